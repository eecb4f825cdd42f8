"""The locker gateway's services (lockers.gateway), called directly on a migrated database, with
no bridge and no HTTP: what they read, write, audit and refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from common.db import create_engine
from lockers.bays import Position
from lockers.errors import Conflict, Invalid, NotFound
from lockers.gateway.bank_types import BankTypes
from lockers.gateway.devices import HEARTBEAT_MAX_BYTES, Heartbeats
from lockers.gateway.locker_types import LockerTypes
from lockers.gateway.lockers import GatewayLockers
from lockers.gateway.rentals import Rentals
from lockers.service import SiteService


@dataclass(frozen=True)
class Who:
    name: str = "desk"
    role: str = "operator"
    device_id: int | None = None


OPERATOR = Who()


@pytest.fixture
async def sites(db_url: str) -> AsyncIterator[SiteService]:
    """Two lockers, B-01 and B-02, on one bank, and no bridge driving them."""
    engine = create_engine(db_url)
    service = SiteService(engine)
    async with engine.begin() as conn:
        for bay in (1, 2):
            assert await service.register(conn, f"B-{bay:02d}", "B", Position("COM9", 1, bay)) is None
    try:
        yield service
    finally:
        await engine.dispose()


async def actions(sites: SiteService) -> list[str]:
    async with sites.engine.connect() as conn:
        return list((await conn.execute(text("SELECT action FROM audit_log ORDER BY id"))).scalars())


async def test_rentals_take_a_free_locker_of_a_type_release_and_refuse(sites: SiteService) -> None:
    small = await LockerTypes(sites).create(OPERATOR, name="S", size="S", has_charging=False,
                                            always_oos=False, description=None)
    async with sites.engine.begin() as conn:
        await conn.execute(text("UPDATE lockers SET locker_type_id = :t"), {"t": small.row.id})
    rentals = Rentals(sites)
    first = await rentals.create(OPERATOR, locker_id=None, locker_type_id=small.row.id, user_id=None,
                                 reference="r1")
    second = await rentals.create(OPERATOR, locker_id=None, locker_type_id=small.row.id, user_id=None,
                                  reference="r2")
    assert (first.locker_identity, second.locker_identity) == ("B-01", "B-02")
    with pytest.raises(Conflict) as none_left:
        await rentals.create(OPERATOR, locker_id=None, locker_type_id=small.row.id, user_id=None, reference=None)
    assert none_left.value.code == "NoLockerAvailable"
    with pytest.raises(Conflict) as in_use:
        await rentals.create(OPERATOR, locker_id=first.locker_id, locker_type_id=None, user_id=None,
                             reference=None)
    assert in_use.value.code == "LockerInUse"
    assert (await rentals.release(first.id, OPERATOR)).released_at is not None
    with pytest.raises(Conflict, match="released already"):
        await rentals.release(first.id, OPERATOR)
    with pytest.raises(NotFound):  # a kiosk of no device sees no rental
        await rentals.get(second.id, Who(role="kiosk", device_id=None))
    rows, total = await rentals.find(OPERATOR, page=1, page_size=10, active=True)
    assert ([r.id for r in rows], total) == ([second.id], 1)
    opened = await rentals.open(second.id, OPERATOR)  # no bridge drives it
    assert (opened.result.success, opened.code, opened.kind) == (False, "LockerNotDriven", Conflict)
    assert await actions(sites) == ["locker_type.create", "transaction.create", "transaction.create",
                                    "transaction.release", "locker.open", "transaction.open"]


async def test_service_state_changes_what_is_available(sites: SiteService) -> None:
    lockers = GatewayLockers(sites)
    views, _ = await lockers.find(OPERATOR, page=1, page_size=10)
    with pytest.raises(Invalid, match="at least one"):
        await lockers.set_service_state(views[0].row.id, OPERATOR, {})
    await lockers.set_service_state(views[0].row.id, OPERATOR, {"out_of_service": True, "reason": "jammed"})
    free, total = await lockers.find(OPERATOR, page=1, page_size=10, available=True)
    assert ([v.row.identity for v in free], total) == (["B-02"], 1)
    view, events = await lockers.details(views[0].row.id, OPERATOR)
    assert (view.out_of_service, view.row.reason, [e.action for e in events]) == (True, "jammed", ["locker.service"])


async def test_bank_types_check_their_associations(sites: SiteService) -> None:
    banks = BankTypes(sites)
    with pytest.raises(Invalid, match="once"):
        await banks.create(OPERATOR, name="C", description=None, associations=[(1, 1), (1, 2)])
    with pytest.raises(NotFound) as unknown:
        await banks.create(OPERATOR, name="C", description=None, associations=[(77, 1)])
    assert unknown.value.extra == {"lockerTypeIds": [77]}
    kind = await LockerTypes(sites).create(OPERATOR, name="M", size="M", has_charging=True, always_oos=False,
                                           description=None)
    made = await banks.create(OPERATOR, name="C", description="column", associations=[(kind.row.id, 4)])
    assert (made.row.locker_count, [(link.type_name, link.count) for link in made.links]) == (4, [("M", 4)])
    with pytest.raises(Conflict):
        await banks.create(OPERATOR, name="C", description=None, associations=[])


async def test_heartbeats_are_audited_on_a_change_of_status(sites: SiteService) -> None:
    async with sites.engine.begin() as conn:
        await conn.execute(text("INSERT INTO devices (code, name, kind, ports, created_at) "
                                "VALUES ('K1', 'Kiosk', 'kiosk', '[]', CURRENT_TIMESTAMP)"))
    beats = Heartbeats(sites)
    for status in ("ok", "ok", "degraded"):
        await beats.record("K1", {"deviceId": "K1", "status": status}, OPERATOR)
    with pytest.raises(NotFound):
        await beats.record("K2", {"deviceId": "K2"}, OPERATOR)
    with pytest.raises(Invalid):
        await beats.record("K1", {"deviceId": "K1", "note": "x" * HEARTBEAT_MAX_BYTES}, OPERATOR)
    assert await actions(sites) == ["device.heartbeat", "device.heartbeat"]
