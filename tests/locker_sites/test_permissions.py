"""Who may call what, for every operation of the locker domain, derived from the OpenAPI document.

The operations come from the app's own OpenAPI document (every path and method of the back office,
the locker gateway, the smart locks, the bridge's ``/api/locker/…`` routes, the logins and
``/health``); each must have a row in :data:`TABLE`, the declared decision of which callers may
call it: admin, operator, viewer, integrator and kiosk tokens, and no token at all. A route added
without a row fails here, as does a row whose route is gone.

For each (operation, caller) one request: a refused caller gets 401 ``Unauthorized`` (no token) or
403 ``Forbidden``; an allowed one anything but 401/403 (a 404 or 409 from the handler is fine);
nobody ever a 5xx. The requests are built so that even an allowed call changes nothing another
check depends on: ids that exist where a read is cheap, and for changes a body that the handler
refuses (a name that is taken, a locker that is rented, an unknown id) or that changes nothing.
Lockers the checks open sit on a bank whose port the bridge does not have (``PERM-R`` on COM9), so
no door moves. Kiosk tokens come from the real kiosk login; every kiosk-allowed locker route also
gets a check that a locker of another device does not exist for the kiosk (:data:`SCOPES`).

Decisions follow README.md's API map and the routes' dependencies; where they disagree the code's
(deliberate, documented in the route modules) decision is the table's, see the notes at
:data:`TABLE`. One stack per test module and xdist worker (module-scoped event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.conftest import fresh_database
from tests.locker_bridge.conftest import bridge_yaml, bridged
from tests.locker_sites.conftest import ADMIN

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share the module's stack

MISSING = 999_999  # an id nothing has
CALLERS = ("admin", "operator", "viewer", "integrator", "kiosk", "no-token")
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
    return create_app(SimpleNamespace(engine=None)).openapi()  # type: ignore[arg-type]


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
    ("POST", "/lockers/{lockerId}/open"): Rule(KIOSK_ACT, lambda w: Call(f"/lockers/{w.l_mine}/open")),
    ("GET", "/locker-types"): Rule(KIOSK_READ, lambda w: Call("/locker-types")),
    ("POST", "/locker-types"): Rule(ADMIN_ONLY, lambda w: Call(
        "/locker-types", {"name": "Perm small"})),  # LockerTypeExists
    ("GET", "/locker-types/{lockerTypeId}"): Rule(KIOSK_READ, lambda w: Call(f"/locker-types/{w.type1}")),
    ("GET", "/bank-types"): Rule(KIOSK_READ, lambda w: Call("/bank-types")),
    ("POST", "/bank-types"): Rule(ADMIN_ONLY, lambda w: Call(
        "/bank-types", {"name": "Perm column"})),  # BankTypeExists
    ("GET", "/bank-types/{bankTypeId}"): Rule(KIOSK_READ, lambda w: Call(f"/bank-types/{w.bank_type}")),
    ("POST", "/system/heartbeat"): Rule(KIOSK_ACT, lambda w: Call(
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


# -- the module's site ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_db_url(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path | str) -> Iterator[str]:
    """As tests/conftest.py's ``db_url``, once for the module."""
    yield from fresh_database(tmp_path_factory.mktemp("permissions"), migrated_template)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_site(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """tests/locker_sites/conftest.py's ``site`` (LOCKER-A, 4 bays on an emulated board), once."""
    tmp = tmp_path_factory.mktemp("permissions-site")
    async with Emulator.on_pty(boards=1, bays=4, link=tmp / "ttyCOM2", door_close_after=None), \
            bridged(module_db_url, bridge_yaml(tmp)) as stack:
        yield stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(module_site: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=module_site.http_url, timeout=20) as client:
        yield client


async def _made(client: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None,
                status: int = 201, **params: Any) -> Any:
    r = await client.post(path, json=body, params=params or None, headers=ADMIN)
    assert r.status_code == status, (path, r.status_code, r.text)
    return r.json()


async def _find(client: httpx.AsyncClient, path: str, q: str) -> int:
    r = await client.get(path, params={"q": q}, headers=ADMIN)
    [item] = r.json()["items"]
    return int(item["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(http: httpx.AsyncClient) -> World:
    """Everything the checks name, set up by the admin through the API."""
    w = World()
    w.headers = {"admin": ADMIN, "no-token": {}}
    for role in ("operator", "viewer", "integrator"):
        token = (await _made(http, "/api/v1/tokens", {"name": f"perm-{role}", "role": role}))["token"]
        w.headers[role] = {"Authorization": f"Bearer {token}"}

    w.loc1 = (await _made(http, "/api/locations", {"name": "Perm Station"}))["id"]
    w.loc2 = (await _made(http, "/api/locations", {"name": "Perm Airport"}))["id"]
    await _made(http, f"/api/locations/{w.loc1}/areas", {"name": "Hall"})
    w.mine = (await _made(http, "/api/devices", {"code": "KIOSK-P", "name": "Kiosk P",
                                                 "password": KIOSK_PASSWORD}))["id"]
    w.other = (await _made(http, "/api/devices", {"code": "KIOSK-Q", "name": "Kiosk Q",
                                                  "password": OTHER_KIOSK_PASSWORD}))["id"]
    login = await _made(http, "/api/auth/kiosk-login", {"deviceCode": "KIOSK-P", "password": KIOSK_PASSWORD},
                        status=200)
    w.headers["kiosk"] = {"Authorization": f"Bearer {login['token']}"}

    w.type1 = (await _made(http, "/api/admin/locker-types", {"name": "Perm small", "size": "S"}))["id"]
    w.type2 = (await _made(http, "/api/admin/locker-types", {"name": "Perm large", "size": "L"}))["id"]
    w.bank_type = (await _made(http, "/bank-types", {"name": "Perm column", "associations": [
        {"lockerTypeId": w.type1, "count": 2}]}))["id"]
    w.bank_a = await _find(http, "/api/admin/banks", "LOCKER-A")
    w.l_free = await _find(http, "/api/admin/lockers", "LOCKER-A-04")
    w.bank_r = (await _made(http, "/api/admin/banks", {"name": "PERM-R", "port": "COM9", "address": 1}))["id"]
    w.l_mine = (await _made(http, "/api/admin/lockers", {"bankId": w.bank_r, "bay": 1, "deviceId": w.mine}))["id"]
    w.l_other = (await _made(http, "/api/admin/lockers", {"bankId": w.bank_r, "bay": 2,
                                                          "deviceId": w.other}))["id"]
    w.r_released = (await _made(http, "/transactions", {"lockerId": w.l_mine}))["id"]
    await _made(http, f"/transactions/{w.r_released}/release", status=200)
    w.r_mine = (await _made(http, "/transactions", {"lockerId": w.l_mine}))["id"]
    w.r_other = (await _made(http, "/transactions", {"lockerId": w.l_other}))["id"]

    w.role_view = (await _made(http, "/api/roles", {"name": "Perm viewer", "permissions": ["view"]}))["id"]
    w.role_operate = (await _made(http, "/api/roles", {"name": "Perm operator", "permissions": ["operate"]}))["id"]
    w.user1 = (await _made(http, "/api/users", {"username": "perm-alice", "name": "Alice", "roleId": w.role_view,
                                                "password": USER_PASSWORD}))["id"]
    w.user2 = (await _made(http, "/api/users", {"username": "perm-bob", "name": "Bob"}))["id"]
    w.group1 = (await _made(http, "/api/groups", {"name": "Perm staff", "userIds": [w.user1]}))["id"]
    w.group2 = (await _made(http, "/api/groups", {"name": "Perm night"}))["id"]

    w.shift1 = (await _made(http, "/api/shifts", {"name": "Perm Morning", "starts": "06:00", "ends": "14:00"}))["id"]
    w.shift2 = (await _made(http, "/api/shifts", {"name": "Perm Night", "starts": "22:00", "ends": "06:00"}))["id"]
    w.sd1 = (await _made(http, "/api/shift-devices", {"shiftId": w.shift1, "deviceId": w.mine}))["id"]
    w.sd2 = (await _made(http, "/api/shift-devices", {"shiftId": w.shift2, "deviceId": w.mine}))["id"]

    w.lock_group = (await _made(http, "/api/lock-groups", {"groupname": "Perm floor",
                                                           "lockids": ["PERM-R-01"]}))["group"]["groupid"]
    return w


async def send(client: httpx.AsyncClient, method: str, call: Call, headers: dict[str, str]) -> httpx.Response:
    client.cookies.clear()  # only the headers given may authenticate
    kwargs: dict[str, Any] = {"params": call.params, "headers": headers}
    if call.json is not None:
        kwargs["json"] = call.json
    return await client.request(method, call.path, **kwargs)


def _code(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _seen(method: str, call: Call, r: httpx.Response) -> str:
    return f"{method} {call.path} params={call.params} -> {r.status_code} {r.text[:300]}"


# -- the checks ------------------------------------------------------------------------------------
def test_every_operation_is_classified() -> None:
    """A new area of the API must be placed: locker domain (this table) or the charging side."""
    unplaced = sorted((m, p) for m, p in operations(SPEC)
                      if not _under(p, LOCKER_PREFIXES) and not _under(p, OTHER_PREFIXES))
    assert not unplaced, f"operations in no known area (add the prefix to LOCKER_PREFIXES or OTHER_PREFIXES): {unplaced}"


@MODULE_LOOP
async def test_the_table_and_the_served_document_name_the_same_operations(
        http: httpx.AsyncClient) -> None:
    served = locker_operations((await http.get("/openapi.json")).json())
    assert served == SPEC_OPERATIONS, "the collected and the served documents differ"
    undecided = sorted(served - TABLE.keys())
    stale = sorted(TABLE.keys() - served)
    assert not undecided, f"locker-domain operations without a permission decision in TABLE: {undecided}"
    assert not stale, f"TABLE names operations the OpenAPI document lacks: {stale}"


def test_every_kiosk_locker_route_has_a_scope_check() -> None:
    kiosk_ops = {op for op, rule in TABLE.items() if "kiosk" in rule.allowed}
    unchecked = sorted(kiosk_ops - SCOPES.keys() - KIOSK_UNSCOPED)
    assert not unchecked, f"kiosk-allowed operations without a foreign-locker check in SCOPES: {unchecked}"
    assert not SCOPES.keys() - kiosk_ops, "SCOPES names operations a kiosk may not call"


@MODULE_LOOP
@pytest.mark.parametrize(("method", "path", "caller"), [
    pytest.param(method, path, caller, id=f"{method} {path} as {caller}")
    for method, path in sorted(SPEC_OPERATIONS | TABLE.keys(), key=lambda op: (op[1], op[0]))
    for caller in CALLERS])
async def test_permission(http: httpx.AsyncClient, world: World, method: str, path: str, caller: str) -> None:
    rule = TABLE.get((method, path))
    if rule is None:
        pytest.fail(f"{method} {path} is in the OpenAPI document but has no permission decision in TABLE")
    if (method, path) not in SPEC_OPERATIONS:
        pytest.fail(f"TABLE names {method} {path}, which the OpenAPI document lacks")
    call = rule.call(world)
    r = await send(http, method, call, world.headers[caller])
    assert r.status_code < 500, f"{caller}: server error: {_seen(method, call, r)}"
    if caller in rule.allowed:
        assert r.status_code not in (401, 403), f"{caller} should be allowed: {_seen(method, call, r)}"
    elif caller == "no-token":
        assert (r.status_code, _code(r)) == (401, "Unauthorized"), \
            f"no token should be 401 Unauthorized: {_seen(method, call, r)}"
    else:
        assert (r.status_code, _code(r)) == (403, "Forbidden"), \
            f"{caller} should be 403 Forbidden: {_seen(method, call, r)}"


@MODULE_LOOP
@pytest.mark.parametrize(("method", "path"), [
    pytest.param(method, path, id=f"{method} {path}") for method, path in SCOPES])
async def test_a_kiosk_reaches_only_its_own_lockers(http: httpx.AsyncClient, world: World,
                                                    method: str, path: str) -> None:
    scope = SCOPES[(method, path)]
    kiosk = world.headers["kiosk"]
    own_call, foreign_call = TABLE[(method, path)].call(world), scope.foreign(world)
    own = await send(http, method, own_call, kiosk)
    foreign = await send(http, method, foreign_call, kiosk)
    assert own.status_code < 500 and foreign.status_code < 500, (_seen(method, own_call, own),
                                                                 _seen(method, foreign_call, foreign))
    if scope.shown is None:
        assert own.status_code not in (401, 403, 404), f"its own: {_seen(method, own_call, own)}"
        assert foreign.status_code in (403, 404), f"another device's: {_seen(method, foreign_call, foreign)}"
        code = _code(foreign)
        assert code == "Forbidden" or (code or "").endswith("NotFound"), _seen(method, foreign_call, foreign)
        return
    assert scope.own is not None and scope.other is not None
    assert own.status_code in (200, 207), _seen(method, own_call, own)
    assert scope.own(world) in scope.shown(own.json()), f"its own is missing: {_seen(method, own_call, own)}"
    assert foreign.status_code in (200, 207), _seen(method, foreign_call, foreign)
    assert scope.other(world) not in scope.shown(foreign.json()), \
        f"another device's is listed: {_seen(method, foreign_call, foreign)}"
