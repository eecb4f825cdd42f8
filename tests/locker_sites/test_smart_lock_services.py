"""The smart-lock services of the back office without HTTP, on a real migrated SQLite database and
no bridge: grants and the access check (audited either way), the event history, a lock's door
state, and kiosk scoping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from csms.timeutil import now_utc
from lockers.errors import Forbidden, NotFound
from lockers.grants import Grants
from lockers.lock_events import LockEvents
from lockers.service import SiteService
from lockers.smart_locks import SmartLocks


@dataclass(frozen=True)
class Viewer:
    name: str = "tester"
    role: str = "operator"
    device_id: int | None = None


OPERATOR = Viewer()
LOST_KIOSK = Viewer("kiosk", "kiosk", None)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    now = now_utc()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO banks (id, name, port, address) VALUES (1, 'A', 'COM2', 1)"))
        await conn.execute(text("INSERT INTO lockers (id, identity, bank_id, bay, out_of_service, broken_lock, "
                                "created_at) VALUES (1, 'LOCK-1', 1, 1, 0, 0, :now)"), {"now": now})
        for uid, name, active in ((1, "alice", 1), (2, "bob", 0)):
            await conn.execute(text("INSERT INTO users (id, username, name, active, created_at) "
                                    "VALUES (:i, :u, :u, :a, :now)"), {"i": uid, "u": name, "a": active, "now": now})
    yield engine
    await engine.dispose()


async def test_grants_and_the_access_check(engine: AsyncEngine) -> None:
    grants = Grants(engine)
    locks = SmartLocks(SiteService(engine))
    lock = (await locks.one("LOCK-1", OPERATOR)).row
    with pytest.raises(Forbidden) as refused:
        await grants.check(lock, 1, "tester")
    assert refused.value.code == "AccessDenied" and refused.value.extra == {"lockid": "LOCK-1"}

    later = now_utc() + timedelta(hours=1)
    identity, grant, username = await grants.grant("LOCK-1", OPERATOR, 1, later, None, "tester")
    assert (identity, grant.user_id, username) == ("LOCK-1", 1, "alice")
    with pytest.raises(Forbidden, match="outside its time window"):
        await grants.check(lock, 1, "tester")
    _, open_now, _ = await grants.grant("LOCK-1", OPERATOR, 1, None, None, "tester")
    await grants.check(lock, 1, "tester")  # allowed: no exception
    with pytest.raises(Forbidden, match="user 2 is disabled"):
        await grants.check(lock, 2, "tester")
    with pytest.raises(NotFound) as unknown:
        await grants.grant("LOCK-1", OPERATOR, 99, None, None, "tester")
    assert unknown.value.code == "UserNotFound"

    assert [g.id for g in (await grants.of_lock("LOCK-1", OPERATOR))[1]] == [grant.id, open_now.id]
    assert await grants.revoke("LOCK-1", grant.id, OPERATOR, "tester") == "LOCK-1"
    with pytest.raises(NotFound) as gone:
        await grants.revoke("LOCK-1", grant.id, OPERATOR, "tester")
    assert gone.value.code == "GrantNotFound"

    # every check is in the history, the refused ones with their reason, newest first
    page = await LockEvents(engine).page("LOCK-1", OPERATOR, 0, 100)
    assert page.total == len(page.events) == 7  # the grant to an unknown user wrote nothing
    assert [e.action for e in page.events] == ["lock.revoke", "lock.access", "lock.access", "lock.grant",
                                               "lock.access", "lock.grant", "lock.access"]
    checks = [e.details for e in page.events if e.action == "lock.access"]
    assert [c["allowed"] for c in checks] == [False, True, False, False]


async def test_events_keep_details_that_are_not_an_object(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for details in ("not json", json.dumps([1, 2])):
            await conn.execute(text("INSERT INTO audit_log (at, actor, action, locker_id, details) "
                                    "VALUES (:at, 'x', 'manual', 1, :d)"), {"at": now_utc(), "d": details})
    page = await LockEvents(engine).page("LOCK-1", OPERATOR, 0, 1)
    assert page.total == 2 and [e.details for e in page.events] == [{"value": [1, 2]}]
    assert (await LockEvents(engine).page("LOCK-1", OPERATOR, 5, 1)).events == []


async def test_lock_state_and_scoping(engine: AsyncEngine) -> None:
    locks = SmartLocks(SiteService(engine))
    found = await locks.lock("LOCK-1", OPERATOR, "tester")  # no reading yet: unknown, and audited
    assert (found.door, found.door_source, found.online) == (None, "unknown", False)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE lockers SET door_open = 1"))
    assert (await locks.one("LOCK-1", OPERATOR)).door_source == "last known"
    assert (await locks.page(OPERATOR, "a bay 1", 0, 10))[0] == 1
    assert (await locks.page(OPERATOR, "nothing", 0, 10))[0] == 0
    # a kiosk token without a device sees no lock at all
    assert await locks.page(LOST_KIOSK, None, 0, 10) == (0, [])
    with pytest.raises(NotFound) as hidden:
        await locks.one("LOCK-1", LOST_KIOSK)
    assert hidden.value.code == "LockNotFound"
    _, opened = await locks.unlock("LOCK-1", OPERATOR, None, "tester")  # no bridge drives it
    assert (opened.success, opened.driven) == (False, False)
