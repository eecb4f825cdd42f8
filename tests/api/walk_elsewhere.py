"""Documented statuses the OpenAPI walk (tests/api/test_openapi_walk.py) does not draw itself,
and the test that does: each was found by running the suite with CHARGEBAY_ANSWERS_LOG
(tests/answers_log.py), which logs every answer a test gets and checks it against the document.

Why the walk leaves them: the back office's and the gateway's successes and conflicts need the
state their own tests build (the walk's locker world is made so that its changes are refused and
change nothing another check depends on); the simulator's runtimes start worker processes; TLS
needs a served certificate; the integration's stop needs a running transaction; the admin login's
403 a user without permissions.
"""

from __future__ import annotations

ELSEWHERE: dict[tuple[str, str], str] = {
    ("DELETE /api/admin/banks/{bankId}", "204"):
        "tests/locker_sites/test_admin_hardware.py::test_locker_types_and_banks",
    ("DELETE /api/admin/lockers/{lockerId}", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_lockers_list_get_add_maintenance_delete",
    ("DELETE /api/devices/{deviceId}", "204"):
        "tests/locker_sites/test_admin_hardware.py::test_devices_crud",
    ("DELETE /api/devices/{deviceId}/key", "204"):
        "tests/locker_sites/test_device_keys.py::test_keys_rotate_and_are_revoked",
    ("DELETE /api/groups/{groupId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_groups_and_members",
    ("DELETE /api/groups/{groupId}/members/{userId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_groups_and_members",
    ("DELETE /api/lock-groups/{groupid}", "200"):
        "tests/locker_sites/test_smart_locks.py::test_lock_groups",
    ("DELETE /api/lock-groups/{groupid}/locks/{lockid}", "200"):
        "tests/locker_sites/test_smart_locks.py::test_lock_groups",
    ("DELETE /api/locks/{lockid}/access/{grantid}", "200"):
        "tests/locker_sites/test_smart_locks.py::test_grants_open_inside_their_window_only",
    ("DELETE /api/roles/{roleId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_roles",
    ("DELETE /api/shift-devices/{shiftDeviceId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_shift_devices",
    ("DELETE /api/shifts/{shiftId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_shift_devices",
    ("DELETE /api/users/{userId}", "204"):
        "tests/locker_sites/test_admin_people.py::test_users_crud",
    ("DELETE /api/users/{userId}", "409"):
        "tests/locker_sites/test_admin_logins.py::test_admin_login",
    ("DELETE /api/v1/load-groups/{group_id}", "409"):
        "tests/energy/test_load_groups_api.py::test_refusals_of_the_resource",
    ("DELETE /api/v1/load-groups/{group_id}/members/{member_id}", "204"):
        "tests/energy/test_load_groups_api.py::test_refusals_of_the_resource",
    ("DELETE /ocpp/chargers/{charger_id}", "204"):
        "tests/charger_sim/runtime_api/test_runtimes.py::test_delete_stops_the_runtime",
    ("GET /api/v1/certificates/{serial}", "200"):
        "tests/csms/test_certificates.py::test_tc_074_a_csr_comes_back_signed_with_the_chain",
    ("GET /api/v1/system/tls", "200"):
        "tests/csms/test_certificates.py::test_the_readme_way_to_profile_3",
    ("GET /ocpp/chargers/{charger_id}", "200"):
        "tests/charger_sim/runtime_api/test_errors.py::test_errors",
    ("GET /ocpp/chargers/{charger_id}/logs", "200"):
        "tests/charger_sim/runtime_api/test_errors.py::test_errors",
    ("GET /ocpp/chargers/{charger_id}/provisioning", "200"):
        "tests/charger_sim/runtime_api/test_errors.py::test_errors",
    ("PATCH /api/admin/banks/{bankId}", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_locker_types_and_banks",
    ("PATCH /api/admin/locker-types/{lockerTypeId}", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_locker_types_and_banks",
    ("PATCH /api/admin/lockers/{lockerId}", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_lockers_list_get_add_maintenance_delete",
    ("PATCH /api/devices/{deviceId}", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_devices_crud",
    ("PATCH /api/groups/{groupId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_groups_and_members",
    ("PATCH /api/locations/{locationId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_locations_areas_and_countries",
    ("PATCH /api/roles/{roleId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_roles",
    ("PATCH /api/shift-devices/{shiftDeviceId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_shift_devices",
    ("PATCH /api/shifts/{shiftId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_shifts_crud_search_paging_and_audit",
    ("PATCH /api/users/{userId}", "200"):
        "tests/locker_sites/test_admin_people.py::test_users_crud",
    ("PATCH /api/v1/charge-points/{charge_point_id}", "409"):
        "tests/api/test_openapi.py::test_examples_are_accepted_by_the_api",
    ("PATCH /api/v1/load-groups/{group_id}", "409"):
        "tests/energy/test_load_groups_api.py::test_refusals_of_the_resource",
    ("PATCH /lockers/{lockerId}", "409"):
        "tests/locker_sites/test_gateway_rentals.py::test_service_state",
    ("POST /api/admin/banks", "404"):
        "tests/locker_sites/test_admin_hardware.py::test_locker_types_and_banks",
    ("POST /api/auth/admin-login", "403"):
        "tests/locker_sites/test_admin_logins.py::test_admin_login",
    ("POST /api/bays/{lockerId}/assign-device", "200"):
        "tests/locker_sites/test_admin_people.py::test_log_filters",
    ("POST /api/bays/{lockerId}/assign-user", "200"):
        "tests/locker_sites/test_admin_hardware.py::test_bays_assign_device_and_user",
    ("POST /api/bays/{lockerId}/assign-user", "409"):
        "tests/locker_sites/test_admin_hardware.py::test_bays_assign_device_and_user",
    ("POST /api/devices", "404"):
        "tests/locker_sites/test_admin_hardware.py::test_devices_crud",
    ("POST /api/devices/{deviceId}/key", "201"):
        "tests/locker_sites/test_permissions.py::test_permission",
    ("POST /api/groups", "201"):
        "tests/locker_sites/test_permissions.py::test_permission",
    ("POST /api/locations/{locationId}/areas", "201"):
        "tests/locker_sites/test_permissions.py::test_permission",
    ("POST /api/lock-groups/{groupid}/unlock", "409"):
        "tests/locker_sites/test_smart_locks.py::test_lock_groups",
    ("POST /api/locker/cabins/{identity}/open", "200"):
        "tests/locker_sites/test_admin_people.py::test_log_filters",
    ("POST /api/locker/cabins/{identity}/stop-charging", "200"):
        "tests/locker_bridge/test_cabins_api.py::test_open_status_start_charging_status_stop",
    ("POST /api/locker/command", "409"):
        "tests/locker_bridge/test_locker_command.py::test_a_raw_start_on_a_bay_out_of_service_needs_force",
    ("POST /api/locks/{lockid}/access", "201"):
        "tests/locker_sites/test_smart_locks.py::test_permissions_per_role",
    ("POST /api/locks/{lockid}/lock", "200"):
        "tests/locker_sites/test_smart_locks.py::test_unlock_opens_the_emulated_door_and_the_door_event_is_in_the_history",
    ("POST /api/locks/{lockid}/unlock", "200"):
        "tests/locker_sites/test_smart_locks.py::test_permissions_per_role",
    ("POST /api/shift-devices", "201"):
        "tests/locker_sites/test_permissions.py::test_permission",
    ("POST /api/users", "404"):
        "tests/locker_sites/test_admin_people.py::test_users_crud",
    ("POST /api/v1/system/tls/reload", "200"):
        "tests/csms/test_tls_reload.py::test_rest_reload_rotates_the_certificate_and_keeps_connections",
    ("POST /api/v1/system/tls/reload", "422"):
        "tests/csms/test_tls_reload.py::test_rest_reload_rotates_the_certificate_and_keeps_connections",
    ("POST /api/v1/transactions/{transaction_id}/close", "409"):
        "tests/csms/test_stranded_transactions.py::test_an_operator_closes_a_stranded_transaction_over_rest",
    ("POST /bank-types", "404"):
        "tests/locker_sites/test_gateway_lockers.py::test_lockers_config_and_types",
    ("POST /integration/charges/start", "200"):
        "tests/csms/test_cluster.py::test_start_and_stop_a_charge_through_the_other_node",
    ("POST /integration/charges/stop", "200"):
        "tests/api/integration_charges/test_stop.py::test_rest_api_not_enabled",
    ("POST /integration/charges/stop", "409"):
        "tests/api/integration_charges/test_stop.py::test_stop_chargebox_offline",
    ("POST /integration/charges/stop", "502"):
        "tests/api/integration_charges/test_stop.py::test_stop_call_error_and_timeout_are_errors_of_their_own",
    ("POST /integration/charges/stop", "504"):
        "tests/api/integration_charges/test_stop.py::test_stop_call_error_and_timeout_are_errors_of_their_own",
    ("POST /lockers/open-all", "200"):
        "tests/locker_sites/test_gateway_system.py::test_permissions_per_role",
    ("POST /lockers/{lockerId}/open", "200"):
        "tests/locker_sites/test_gateway_system.py::test_permissions_per_role",
    ("POST /ocpp/chargers", "201"):
        "tests/charger_sim/runtime_api/test_errors.py::test_errors",
    ("POST /ocpp/chargers", "409"):
        "tests/charger_sim/runtime_api/test_errors.py::test_errors",
    ("POST /ocpp/chargers/{charger_id}/restart-charger", "200"):
        "tests/charger_sim/runtime_api/test_runtimes.py::test_start_stop_restart_and_provisioning",
    ("POST /ocpp/chargers/{charger_id}/start-charger", "200"):
        "tests/charger_sim/runtime_api/test_runtimes.py::test_delete_stops_the_runtime",
    ("POST /ocpp/chargers/{charger_id}/stop-charger", "200"):
        "tests/charger_sim/runtime_api/test_runtimes.py::test_start_stop_restart_and_provisioning",
    ("POST /ocpp/sim/{identity}/{action}", "200"):
        "tests/test_demo.py::test_demo_network_comes_online_and_charges",
    ("POST /ocpp/sim/{identity}/{action}", "409"):
        "tests/charger_sim/runtime_api/test_runtimes.py::test_delete_stops_the_runtime",
    ("POST /transactions/{transactionId}/open", "200"):
        "tests/locker_sites/test_gateway_rentals.py::test_service_state",
    ("POST /transactions/{transactionId}/release", "200"):
        "tests/locker_sites/test_permissions.py::test_permission",
    ("PUT /ocpp/chargers/{charger_id}", "200"):
        "tests/charger_sim/runtime_api/test_definitions.py::test_create_get_list_update_delete",
}
