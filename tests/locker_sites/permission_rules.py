"""The table the permission tests check: every operation of the locker domain in the OpenAPI
document, who may call it, how to build a call, and how a kiosk's scope shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from api.app import create_app
from common.settings import Settings

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share the module's stack

MISSING = 999_999  # an id nothing has
CALLERS = ("admin", "operator", "viewer", "integrator", "kiosk", "device", "no-token")
# device: KIOSK-P's device key, good for its heartbeat only
KIOSK_PASSWORD = "kiosk secret 1"
OTHER_KIOSK_PASSWORD = "kiosk secret 2"
USER_PASSWORD = "correct horse battery"

# -- the locker domain in the OpenAPI document ---------------------------------------------------
LOCKER_PREFIXES = (
    # back office (seed 000) and its logins
    "/api/shifts", "/api/shift-devices", "/api/devices", "/api/bays", "/api/admin", "/api/users",
    "/api/groups", "/api/locations", "/api/roles", "/api/countries", "/api/logs", "/api/auth",
    # locker gateway (seed 004)
    "/transactions", "/lockers", "/locker-types", "/bank-types", "/system", "/health", "/admin",
    # smart locks (seed 003)
    "/api/locks", "/api/lock-groups",
    # the bridge's hex pass-through and typed cabins
    "/api/locker",
)
# the charging side of the app: its permissions are tested in tests/api
OTHER_PREFIXES = ("/api/v1", "/integration", "/ocpp", "/metrics")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in an OpenAPI document."""
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method in HTTP_METHODS}


def locker_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, p) for m, p in operations(spec) if _under(p, LOCKER_PREFIXES)}


def _collection_spec() -> dict[str, Any]:
    """The document of the app as the stack builds it (collection cannot wait for a stack; the
    routes do not touch the central system to be described). The served document is compared too:
    :func:`test_the_table_and_the_served_document_name_the_same_operations`."""
    central = SimpleNamespace(engine=None, settings=Settings())  # enough of one to describe the API
    return create_app(central).openapi()  # type: ignore[arg-type]


SPEC = _collection_spec()
SPEC_OPERATIONS = locker_operations(SPEC)


# -- what a check sends --------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None


@dataclass
class World:
    """What the module's site holds besides the bridge's LOCKER-A-01..04 (ids from the API)."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    mine: int = 0  # device KIOSK-P: the kiosk token's own
    other: int = 0  # device KIOSK-Q
    bank_a: int = 0  # the bridge's bank LOCKER-A (lockers 1-4)
    bank_r: int = 0  # bank PERM-R on COM9: no bridge drives it
    l_mine: int = 0  # PERM-R-01, device KIOSK-P, rented (r_mine)
    l_other: int = 0  # PERM-R-02, device KIOSK-Q, rented (r_other)
    l_free: int = 0  # LOCKER-A-04: no device, no user, no rental
    r_released: int = 0  # a released rental of PERM-R-01
    r_mine: int = 0
    r_other: int = 0
    type1: int = 0
    type2: int = 0
    bank_type: int = 0
    loc1: int = 0
    loc2: int = 0
    shift1: int = 0
    shift2: int = 0
    sd1: int = 0  # (shift1, mine)
    sd2: int = 0  # (shift2, mine)
    role_view: int = 0  # has user1
    role_operate: int = 0
    user1: int = 0  # perm-alice: role_view, a password, in group1
    user2: int = 0  # perm-bob
    group1: int = 0
    group2: int = 0
    lock_group: int = 0  # holds PERM-R-01


Build = Callable[[World], Call]

ADMIN_ONLY = frozenset({"admin"})
OPERATE = frozenset({"admin", "operator"})
READ = frozenset({"admin", "operator", "viewer"})
KIOSK_ACT = frozenset({"admin", "operator", "kiosk"})
KIOSK_READ = frozenset({"admin", "operator", "viewer", "kiosk"})
PUBLIC = frozenset(CALLERS)

PAGE = {"pagenumber": 1, "limit": 10}  # the smart-lock lists' required paging


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    call: Build


# Notes on the decisions (README.md "REST API map" and "Locker sites", and the dependencies):
# - integrator: README's role list gives it "reads", but no locker-domain route admits it (the back
#   office says so in api/backoffice.py; the gateway, smart locks and /api/locker/* agree); the table
#   follows the code: integrator is refused everywhere but the public routes.
# - gateway POST /locker-types and POST /bank-types: README says "changes operator"; the code (and
#   its docstring: "extension to the doc; admin") admits admin only. The table follows the code.
# - smart locks: README says "reads viewer; actions operator" and names no kiosk; the code (its
#   module docstring) lets a kiosk read, lock and unlock its own device's locks. Table: the code.
TABLE: dict[tuple[str, str], Rule] = {
    # -- back office: shifts -------------------------------------------------------------------
    ("GET", "/api/shifts"): Rule(READ, lambda w: Call("/api/shifts")),
    ("POST", "/api/shifts"): Rule(OPERATE, lambda w: Call(
        "/api/shifts", {"name": "Perm Morning", "starts": "06:00", "ends": "07:00"})),  # ShiftExists
    ("GET", "/api/shifts/{shiftId}"): Rule(READ, lambda w: Call(f"/api/shifts/{w.shift1}")),
    ("PATCH", "/api/shifts/{shiftId}"): Rule(OPERATE, lambda w: Call(
        f"/api/shifts/{w.shift2}", {"name": "Perm Morning"})),  # ShiftExists
    ("DELETE", "/api/shifts/{shiftId}"): Rule(OPERATE, lambda w: Call(f"/api/shifts/{MISSING}")),
    # -- shift devices -------------------------------------------------------------------------
    ("GET", "/api/shift-devices"): Rule(READ, lambda w: Call("/api/shift-devices")),
    ("POST", "/api/shift-devices"): Rule(OPERATE, lambda w: Call(
        "/api/shift-devices", {"shiftId": w.shift1, "deviceId": w.mine})),  # ShiftDeviceExists
    ("GET", "/api/shift-devices/{shiftDeviceId}"): Rule(READ, lambda w: Call(f"/api/shift-devices/{w.sd1}")),
    ("PATCH", "/api/shift-devices/{shiftDeviceId}"): Rule(OPERATE, lambda w: Call(
        f"/api/shift-devices/{w.sd2}", {"shiftId": w.shift1})),  # ShiftDeviceExists
    ("DELETE", "/api/shift-devices/{shiftDeviceId}"): Rule(OPERATE, lambda w: Call(
        f"/api/shift-devices/{MISSING}")),
    # -- devices -------------------------------------------------------------------------------
    ("GET", "/api/devices"): Rule(READ, lambda w: Call("/api/devices")),
    ("POST", "/api/devices"): Rule(OPERATE, lambda w: Call(
        "/api/devices", {"code": "KIOSK-P", "name": "Again"})),  # DeviceExists
    ("GET", "/api/devices/status"): Rule(READ, lambda w: Call("/api/devices/status")),
    ("GET", "/api/devices/{deviceId}"): Rule(READ, lambda w: Call(f"/api/devices/{w.mine}")),
    ("PATCH", "/api/devices/{deviceId}"): Rule(OPERATE, lambda w: Call(
        f"/api/devices/{w.other}", {"code": "KIOSK-P"})),  # DeviceExists
    ("DELETE", "/api/devices/{deviceId}"): Rule(OPERATE, lambda w: Call(f"/api/devices/{MISSING}")),
    # (an unknown device: a key issued for KIOSK-P would revoke the device caller's own)
    ("POST", "/api/devices/{deviceId}/key"): Rule(OPERATE, lambda w: Call(f"/api/devices/{MISSING}/key")),
    ("DELETE", "/api/devices/{deviceId}/key"): Rule(OPERATE, lambda w: Call(f"/api/devices/{MISSING}/key")),
    # -- bays ----------------------------------------------------------------------------------
    ("GET", "/api/bays"): Rule(READ, lambda w: Call("/api/bays")),
    ("POST", "/api/bays/{lockerId}/assign-device"): Rule(OPERATE, lambda w: Call(
        f"/api/bays/{w.l_mine}/assign-device", {"deviceId": MISSING})),  # DeviceNotFound
    ("POST", "/api/bays/{lockerId}/unassign-device"): Rule(OPERATE, lambda w: Call(
        f"/api/bays/{w.l_free}/unassign-device")),  # it has none: no change
    ("POST", "/api/bays/{lockerId}/assign-user"): Rule(OPERATE, lambda w: Call(
        f"/api/bays/{w.l_other}/assign-user", {"userId": MISSING})),  # UserNotFound
    # -- lockers -------------------------------------------------------------------------------
    ("GET", "/api/admin/lockers"): Rule(KIOSK_READ, lambda w: Call("/api/admin/lockers")),
    ("POST", "/api/admin/lockers"): Rule(OPERATE, lambda w: Call(
        "/api/admin/lockers", {"bankId": w.bank_r, "bay": 1})),  # BayTaken
    ("GET", "/api/admin/lockers/maintenance"): Rule(READ, lambda w: Call("/api/admin/lockers/maintenance")),
    ("GET", "/api/admin/lockers/{lockerId}"): Rule(KIOSK_READ, lambda w: Call(f"/api/admin/lockers/{w.l_mine}")),
    ("PATCH", "/api/admin/lockers/{lockerId}"): Rule(OPERATE, lambda w: Call(
        f"/api/admin/lockers/{w.l_mine}", {"lockerTypeId": MISSING})),  # LockerTypeNotFound
    ("DELETE", "/api/admin/lockers/{lockerId}"): Rule(OPERATE, lambda w: Call(
        f"/api/admin/lockers/{w.l_mine}")),  # LockerInUse: rented
    # -- locker types --------------------------------------------------------------------------
    ("GET", "/api/admin/locker-types"): Rule(READ, lambda w: Call("/api/admin/locker-types")),
    ("POST", "/api/admin/locker-types"): Rule(OPERATE, lambda w: Call(
        "/api/admin/locker-types", {"name": "Perm small"})),  # LockerTypeExists
    ("GET", "/api/admin/locker-types/{lockerTypeId}"): Rule(READ, lambda w: Call(
        f"/api/admin/locker-types/{w.type1}")),
    ("PATCH", "/api/admin/locker-types/{lockerTypeId}"): Rule(OPERATE, lambda w: Call(
        f"/api/admin/locker-types/{w.type2}", {"name": "Perm small"})),  # LockerTypeExists
    # -- banks ---------------------------------------------------------------------------------
    ("GET", "/api/admin/banks"): Rule(READ, lambda w: Call("/api/admin/banks")),
    ("POST", "/api/admin/banks"): Rule(OPERATE, lambda w: Call(
        "/api/admin/banks", {"name": "PERM-R", "port": "COM8", "address": 2})),  # BankNameTaken
    ("GET", "/api/admin/banks/{bankId}"): Rule(READ, lambda w: Call(f"/api/admin/banks/{w.bank_r}")),
    ("PATCH", "/api/admin/banks/{bankId}"): Rule(OPERATE, lambda w: Call(
        f"/api/admin/banks/{w.bank_r}", {"name": "LOCKER-A"})),  # BankNameTaken
    ("DELETE", "/api/admin/banks/{bankId}"): Rule(OPERATE, lambda w: Call(
        f"/api/admin/banks/{w.bank_r}")),  # BankInUse
    # -- audit log -----------------------------------------------------------------------------
    ("GET", "/api/logs"): Rule(READ, lambda w: Call("/api/logs", params={"page_size": 5})),
    # -- users (changes: admin) ------------------------------------------------------------------
    ("GET", "/api/users"): Rule(READ, lambda w: Call("/api/users")),
    ("POST", "/api/users"): Rule(ADMIN_ONLY, lambda w: Call(
        "/api/users", {"username": "perm-alice", "name": "Again"})),  # UserExists
    ("GET", "/api/users/{userId}"): Rule(READ, lambda w: Call(f"/api/users/{w.user1}")),
    ("PATCH", "/api/users/{userId}"): Rule(ADMIN_ONLY, lambda w: Call(
        f"/api/users/{w.user2}", {"username": "perm-alice"})),  # UserExists
    ("DELETE", "/api/users/{userId}"): Rule(ADMIN_ONLY, lambda w: Call(f"/api/users/{MISSING}")),
    # -- user groups ---------------------------------------------------------------------------
    ("GET", "/api/groups"): Rule(READ, lambda w: Call("/api/groups")),
    ("POST", "/api/groups"): Rule(OPERATE, lambda w: Call("/api/groups", {"name": "Perm staff"})),  # GroupExists
    ("GET", "/api/groups/{groupId}"): Rule(READ, lambda w: Call(f"/api/groups/{w.group1}")),
    ("PATCH", "/api/groups/{groupId}"): Rule(OPERATE, lambda w: Call(
        f"/api/groups/{w.group2}", {"name": "Perm staff"})),  # GroupExists
    ("DELETE", "/api/groups/{groupId}"): Rule(OPERATE, lambda w: Call(f"/api/groups/{MISSING}")),
    ("POST", "/api/groups/{groupId}/members"): Rule(OPERATE, lambda w: Call(
        f"/api/groups/{w.group1}/members", {"userIds": [w.user1]})),  # a member already: no change
    ("DELETE", "/api/groups/{groupId}/members/{userId}"): Rule(OPERATE, lambda w: Call(
        f"/api/groups/{w.group1}/members/{w.user2}")),  # MemberNotFound
    # -- locations -----------------------------------------------------------------------------
    ("GET", "/api/locations"): Rule(READ, lambda w: Call("/api/locations")),
    ("POST", "/api/locations"): Rule(OPERATE, lambda w: Call("/api/locations", {"name": "Perm Station"})),
    ("GET", "/api/locations/{locationId}"): Rule(READ, lambda w: Call(f"/api/locations/{w.loc1}")),
    ("PATCH", "/api/locations/{locationId}"): Rule(OPERATE, lambda w: Call(
        f"/api/locations/{w.loc2}", {"name": "Perm Station"})),  # LocationExists
    ("POST", "/api/locations/{locationId}/areas"): Rule(OPERATE, lambda w: Call(
        f"/api/locations/{w.loc1}/areas", {"name": "Hall"})),  # AreaExists
    # -- roles (changes: admin) ------------------------------------------------------------------
    ("GET", "/api/roles"): Rule(READ, lambda w: Call("/api/roles")),
    ("POST", "/api/roles"): Rule(ADMIN_ONLY, lambda w: Call(
        "/api/roles", {"name": "Perm viewer", "permissions": ["view"]})),  # RoleExists
    ("GET", "/api/roles/{roleId}"): Rule(READ, lambda w: Call(f"/api/roles/{w.role_view}")),
    ("PATCH", "/api/roles/{roleId}"): Rule(ADMIN_ONLY, lambda w: Call(
        f"/api/roles/{w.role_operate}", {"name": "Perm viewer"})),  # RoleExists
    ("DELETE", "/api/roles/{roleId}"): Rule(ADMIN_ONLY, lambda w: Call(f"/api/roles/{w.role_view}")),  # RoleInUse
    ("GET", "/api/countries"): Rule(READ, lambda w: Call("/api/countries", params={"q": "DE"})),
    # -- logins: no token needed; they succeed (a failure would count against the rate limit) ----
    ("POST", "/api/auth/admin-login"): Rule(PUBLIC, lambda w: Call(
        "/api/auth/admin-login", {"username": "perm-alice", "password": USER_PASSWORD})),
    ("POST", "/api/auth/kiosk-login"): Rule(PUBLIC, lambda w: Call(
        "/api/auth/kiosk-login", {"deviceCode": "KIOSK-Q", "password": OTHER_KIOSK_PASSWORD})),
    # -- locker gateway ------------------------------------------------------------------------
    ("GET", "/health"): Rule(PUBLIC, lambda w: Call("/health")),
    ("GET", "/admin"): Rule(PUBLIC, lambda w: Call("/admin")),  # the doc's admin interface: a redirect
    ("GET", "/transactions"): Rule(KIOSK_READ, lambda w: Call("/transactions")),
    ("POST", "/transactions"): Rule(KIOSK_ACT, lambda w: Call(
        "/transactions", {"lockerId": w.l_mine})),  # LockerInUse
    ("GET", "/transactions/{transactionId}"): Rule(KIOSK_READ, lambda w: Call(f"/transactions/{w.r_mine}")),
    ("POST", "/transactions/{transactionId}/release"): Rule(KIOSK_ACT, lambda w: Call(
        f"/transactions/{w.r_released}/release")),  # TransactionNotActive
    ("POST", "/transactions/{transactionId}/open"): Rule(KIOSK_ACT, lambda w: Call(
        f"/transactions/{w.r_mine}/open")),  # LockerNotDriven
    ("GET", "/lockers"): Rule(KIOSK_READ, lambda w: Call("/lockers")),
    ("POST", "/lockers/open-all"): Rule(KIOSK_ACT, lambda w: Call(
        "/lockers/open-all", params={"bankId": w.bank_r})),  # 207: nothing drives PERM-R
    ("GET", "/lockers/{lockerId}/config"): Rule(KIOSK_READ, lambda w: Call(f"/lockers/{w.l_mine}/config")),
    ("GET", "/lockers/{lockerId}"): Rule(KIOSK_READ, lambda w: Call(f"/lockers/{w.l_mine}")),
    ("PATCH", "/lockers/{lockerId}"): Rule(OPERATE, lambda w: Call(
        f"/lockers/{w.l_mine}", {"brokenLock": False})),  # as it is
    ("PATCH", "/lockers/"): Rule(OPERATE, lambda w: Call("/lockers/", {"outOfService": True})),  # LockerIdRequired
    ("POST", "/lockers/{lockerId}/open"): Rule(KIOSK_ACT, lambda w: Call(f"/lockers/{w.l_mine}/open")),
    ("GET", "/locker-types"): Rule(KIOSK_READ, lambda w: Call("/locker-types")),
    ("POST", "/locker-types"): Rule(ADMIN_ONLY, lambda w: Call(
        "/locker-types", {"name": "Perm small"})),  # LockerTypeExists
    ("GET", "/locker-types/{lockerTypeId}"): Rule(KIOSK_READ, lambda w: Call(f"/locker-types/{w.type1}")),
    ("GET", "/bank-types"): Rule(KIOSK_READ, lambda w: Call("/bank-types")),
    ("POST", "/bank-types"): Rule(ADMIN_ONLY, lambda w: Call(
        "/bank-types", {"name": "Perm column"})),  # BankTypeExists
    ("GET", "/bank-types/{bankTypeId}"): Rule(KIOSK_READ, lambda w: Call(f"/bank-types/{w.bank_type}")),
    ("POST", "/system/heartbeat"): Rule(KIOSK_ACT | {"device"}, lambda w: Call(
        "/system/heartbeat", {"deviceId": "KIOSK-P", "status": "ok"})),
    # -- smart locks ---------------------------------------------------------------------------
    ("GET", "/api/locks"): Rule(KIOSK_READ, lambda w: Call("/api/locks", params=PAGE)),
    ("GET", "/api/locks/{lockid}/status"): Rule(KIOSK_READ, lambda w: Call("/api/locks/PERM-R-01/status")),
    ("POST", "/api/locks/{lockid}/unlock"): Rule(KIOSK_ACT, lambda w: Call(
        "/api/locks/PERM-R-01/unlock")),  # UnlockFailed: not driven
    ("POST", "/api/locks/{lockid}/lock"): Rule(KIOSK_ACT, lambda w: Call(
        "/api/locks/PERM-R-01/lock")),  # DoorUnknown
    ("POST", "/api/locks/{lockid}/access"): Rule(OPERATE, lambda w: Call(
        "/api/locks/PERM-R-01/access", {"userid": MISSING})),  # UserNotFound
    ("GET", "/api/locks/{lockid}/access"): Rule(READ, lambda w: Call("/api/locks/PERM-R-01/access")),
    ("DELETE", "/api/locks/{lockid}/access/{grantid}"): Rule(OPERATE, lambda w: Call(
        f"/api/locks/PERM-R-01/access/{MISSING}")),  # GrantNotFound
    ("GET", "/api/locks/{lockid}/events"): Rule(KIOSK_READ, lambda w: Call(
        "/api/locks/PERM-R-01/events", params=PAGE)),
    ("GET", "/api/lock-groups"): Rule(READ, lambda w: Call("/api/lock-groups")),
    ("POST", "/api/lock-groups"): Rule(OPERATE, lambda w: Call(
        "/api/lock-groups", {"groupname": "Perm floor"})),  # GroupExists
    ("GET", "/api/lock-groups/{groupid}"): Rule(READ, lambda w: Call(f"/api/lock-groups/{w.lock_group}")),
    ("DELETE", "/api/lock-groups/{groupid}"): Rule(OPERATE, lambda w: Call(f"/api/lock-groups/{MISSING}")),
    ("POST", "/api/lock-groups/{groupid}/locks"): Rule(OPERATE, lambda w: Call(
        f"/api/lock-groups/{w.lock_group}/locks", {"lockids": ["PERM-R-01"]})),  # in it already
    ("DELETE", "/api/lock-groups/{groupid}/locks/{lockid}"): Rule(OPERATE, lambda w: Call(
        f"/api/lock-groups/{w.lock_group}/locks/PERM-R-02")),  # LockNotInGroup
    ("POST", "/api/lock-groups/{groupid}/unlock"): Rule(OPERATE, lambda w: Call(
        f"/api/lock-groups/{w.lock_group}/unlock")),  # PERM-R-01: not driven, does not open
    # -- the bridge: hex pass-through and typed cabins (README: viewer / operator) -------------
    ("POST", "/api/locker/command"): Rule(OPERATE, lambda w: Call(
        "/api/locker/command", {"comPort": "COM9", "hexCode": "81 01 02 52 06 5B 00 FA"})),  # unknown port
    ("GET", "/api/locker/cabins"): Rule(READ, lambda w: Call("/api/locker/cabins")),
    ("GET", "/api/locker/cabins/{identity}"): Rule(READ, lambda w: Call("/api/locker/cabins/LOCKER-A-01")),
    ("POST", "/api/locker/cabins/{identity}/locker-status"): Rule(OPERATE, lambda w: Call(
        "/api/locker/cabins/LOCKER-A-01/locker-status")),  # a read on the bus
    ("POST", "/api/locker/cabins/{identity}/open"): Rule(OPERATE, lambda w: Call(
        "/api/locker/cabins/NO-SUCH-CABIN/open")),  # UnknownCabin
    ("POST", "/api/locker/cabins/{identity}/start-charging"): Rule(OPERATE, lambda w: Call(
        "/api/locker/cabins/NO-SUCH-CABIN/start-charging", {"idTag": "TAG-1"})),  # UnknownCabin
    ("POST", "/api/locker/cabins/{identity}/stop-charging"): Rule(OPERATE, lambda w: Call(
        "/api/locker/cabins/NO-SUCH-CABIN/stop-charging")),  # UnknownCabin
    ("POST", "/api/locker/cabins/{identity}/charging-status"): Rule(OPERATE, lambda w: Call(
        "/api/locker/cabins/LOCKER-A-01/charging-status")),  # a read on the bus
    ("GET", "/api/locker/ports"): Rule(READ, lambda w: Call("/api/locker/ports")),
}


# -- kiosk scoping: another device's locker does not exist for a kiosk ---------------------------
@dataclass(frozen=True)
class Scope:
    """For an item route: ``foreign`` (the same call on another device's locker) must be refused
    (403) or not found (404), while the table's call on the kiosk's own locker must not be. For a
    list: ``shown`` reads the keys an answer lists; the table's call must list ``own``, and
    ``foreign`` (with filters that try to widen the scope) must not list ``other``."""

    foreign: Build
    shown: Callable[[Any], set[Any]] | None = None
    own: Callable[[World], Any] | None = None
    other: Callable[[World], Any] | None = None


def _ids(key: str, items: str = "items") -> Callable[[Any], set[Any]]:
    return lambda body: {item[key] for item in body[items]}


SCOPES: dict[tuple[str, str], Scope] = {
    ("GET", "/api/admin/lockers"): Scope(
        lambda w: Call("/api/admin/lockers", params={"deviceId": w.other}), _ids("id"),
        lambda w: w.l_mine, lambda w: w.l_other),
    ("GET", "/api/admin/lockers/{lockerId}"): Scope(lambda w: Call(f"/api/admin/lockers/{w.l_other}")),
    ("GET", "/transactions"): Scope(
        lambda w: Call("/transactions", params={"lockerId": w.l_other}), _ids("id"),
        lambda w: w.r_mine, lambda w: w.r_other),
    ("POST", "/transactions"): Scope(lambda w: Call("/transactions", {"lockerId": w.l_other})),
    ("GET", "/transactions/{transactionId}"): Scope(lambda w: Call(f"/transactions/{w.r_other}")),
    ("POST", "/transactions/{transactionId}/release"): Scope(
        lambda w: Call(f"/transactions/{w.r_other}/release")),
    ("POST", "/transactions/{transactionId}/open"): Scope(lambda w: Call(f"/transactions/{w.r_other}/open")),
    ("GET", "/lockers"): Scope(
        lambda w: Call("/lockers", params={"deviceId": w.other}), _ids("id"),
        lambda w: w.l_mine, lambda w: w.l_other),
    ("POST", "/lockers/open-all"): Scope(
        lambda w: Call("/lockers/open-all", params={"deviceId": w.other}), _ids("lockerId", "results"),
        lambda w: w.l_mine, lambda w: w.l_other),
    ("GET", "/lockers/{lockerId}/config"): Scope(lambda w: Call(f"/lockers/{w.l_other}/config")),
    ("GET", "/lockers/{lockerId}"): Scope(lambda w: Call(f"/lockers/{w.l_other}")),
    ("POST", "/lockers/{lockerId}/open"): Scope(lambda w: Call(f"/lockers/{w.l_other}/open")),
    ("POST", "/system/heartbeat"): Scope(
        lambda w: Call("/system/heartbeat", {"deviceId": "KIOSK-Q", "status": "ok"})),
    ("GET", "/api/locks"): Scope(
        lambda w: Call("/api/locks", params={**PAGE, "searchkey": "PERM-R-02"}), _ids("lockid", "lockslist"),
        lambda w: "PERM-R-01", lambda w: "PERM-R-02"),
    ("GET", "/api/locks/{lockid}/status"): Scope(lambda w: Call("/api/locks/PERM-R-02/status")),
    ("POST", "/api/locks/{lockid}/unlock"): Scope(lambda w: Call("/api/locks/PERM-R-02/unlock")),
    ("POST", "/api/locks/{lockid}/lock"): Scope(lambda w: Call("/api/locks/PERM-R-02/lock")),
    ("GET", "/api/locks/{lockid}/events"): Scope(lambda w: Call("/api/locks/PERM-R-02/events", params=PAGE)),
}
# kiosk-allowed operations that name no locker (and show only counts of the kiosk's own)
KIOSK_UNSCOPED = {
    ("GET", "/health"), ("GET", "/admin"), ("POST", "/api/auth/admin-login"), ("POST", "/api/auth/kiosk-login"),
    ("GET", "/locker-types"), ("GET", "/locker-types/{lockerTypeId}"),
    ("GET", "/bank-types"), ("GET", "/bank-types/{bankTypeId}"),
}


