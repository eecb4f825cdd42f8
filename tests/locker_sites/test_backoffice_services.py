"""The back office's services without HTTP: on a real (migrated) database, each one refuses in
the back office's own words (lockers.errors) and audits its changes in the same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import Caller
from common.db import create_engine
from csms.queries import Page
from lockers.backoffice.banks import BankService
from lockers.backoffice.devices import DeviceService
from lockers.backoffice.locations import LocationService
from lockers.backoffice.lockers import LockerService
from lockers.backoffice.logins import LoginService
from lockers.backoffice.logs import LogService
from lockers.backoffice.roles import RoleService
from lockers.backoffice.users import UserService
from lockers.errors import Conflict, Forbidden, Invalid, NotFound
from lockers.service import SiteService

PAGE = Page(1, 100)
ADMIN = Caller("tester", "admin")  # who asks: the REST layer's caller is a lockers.scope.Viewer


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def site(engine: AsyncEngine) -> SiteService:
    return SiteService(engine)  # no bridge: nothing is driven


async def actions(engine: AsyncEngine, site: SiteService, prefix: str) -> list[str]:
    page = await LogService(engine, site).page(PAGE, action=prefix, locker_id=None, device_id=None,
                                               actor=None, since=None, until=None)
    return [entry["action"] for entry in reversed(page["items"])]


async def test_users_and_roles(engine: AsyncEngine, site: SiteService) -> None:
    users, roles = UserService(engine, site), RoleService(engine, site)
    role_id = await roles.add(ADMIN, {"name": "Ops", "permissions": ["operate"]})
    user_id = await users.add(ADMIN, {"username": "ann", "name": "Ann", "email": None, "phone": None,
                                      "roleId": role_id, "password": "a good password", "active": True})
    user = await users.get(user_id)
    assert (user["username"], user["role"], user["hasPassword"]) == ("ann", "Ops", True)
    with pytest.raises(Conflict) as taken:
        await users.add(ADMIN, {"username": "ann", "name": "Again", "roleId": None})
    assert taken.value.code == "UserExists"
    with pytest.raises(NotFound) as unknown:
        await users.update(ADMIN, user_id, {"roleId": 999})
    assert unknown.value.code == "RoleNotFound"
    with pytest.raises(Conflict) as in_use:
        await roles.delete(ADMIN, role_id)
    assert in_use.value.code == "RoleInUse"
    await users.delete(ADMIN, user_id)
    await roles.delete(ADMIN, role_id)
    assert await actions(engine, site, "user.") == ["user.add", "user.delete"]
    with pytest.raises(NotFound):
        await roles.get(role_id)


async def test_devices_and_places(engine: AsyncEngine, site: SiteService) -> None:
    places, devices = LocationService(engine, site), DeviceService(engine, site)
    here = await places.add(ADMIN, {"name": "Here", "address": None, "countryCode": None})
    there = await places.add(ADMIN, {"name": "There", "address": None, "countryCode": None})
    area = await places.add_area(ADMIN, there, "Level 1")
    body = {"code": "K1", "name": "Kiosk", "kind": "kiosk", "locationId": here, "areaId": area["id"],
            "ports": [], "password": None}
    with pytest.raises(Invalid) as elsewhere:
        await devices.add(ADMIN, body)
    assert elsewhere.value.code == "AreaNotInLocation"
    device_id = await devices.add(ADMIN, {**body, "locationId": None})  # the area's location
    assert (await devices.get(device_id))["locationId"] == there
    status = await devices.status(PAGE, None, None)
    assert (status["total"], status["online"], status["onlineWindowSeconds"]) == (1, 0, 120)


async def test_lockers_are_scoped_and_banks_kept(engine: AsyncEngine, site: SiteService) -> None:
    banks, lockers = BankService(engine, site), LockerService(engine, site)
    bank_id = await banks.add(ADMIN, {"name": "B", "port": "COM9", "address": 1, "bankTypeId": None,
                                      "deviceId": None, "locationId": None})
    added = await lockers.add(ADMIN, bank_id, 1, None, None, None)
    assert (added["identity"], added["driven"]) == ("B-01", False)
    assert added["message"].startswith("no locker bridge runs here")
    with pytest.raises(NotFound):  # a kiosk of another device: the locker does not exist to it
        await lockers.get(Caller("kiosk:K7", "kiosk", device_id=7), added["id"])
    with pytest.raises(Conflict) as in_use:
        await banks.delete(ADMIN, bank_id)
    assert in_use.value.code == "BankInUse"
    assert (await lockers.delete(ADMIN, added["id"]))["stillDriven"] is False


async def test_an_inactive_user_gets_no_token(engine: AsyncEngine, site: SiteService) -> None:
    users, logins = UserService(engine, site), LoginService(engine, site)
    await users.add(ADMIN, {"username": "off", "name": "Off", "active": False})
    user = await logins.user_named("off")
    with pytest.raises(Forbidden) as refused:
        await logins.admin_token(user, "127.0.0.1")
    assert refused.value.code == "UserInactive"
    assert await logins.user_named("nobody") is None
