"""Ids of the locker domain are never given twice, whatever was deleted (issue #13, item 11).

SQLite hands a table without AUTOINCREMENT ``max(id) + 1``: delete the newest locker and the next
one gets its id, and with it the deleted one's audit trail (``GET /api/logs?lockerId=``). Every
case here deletes the record with the highest id, the one SQLite would give out again, through
the REST API of a running stack (no bridge: ids are the database's business). PostgreSQL
sequences never go back; the second pass of ``make test`` (``PG_TESTS``) checks that too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.locker_sites.conftest import ADMIN


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as c:
        yield c


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


async def logs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return ok(await client.get("/api/logs", params={"page_size": 1000, **params}))["items"]  # type: ignore[no-any-return]


async def add_bank(client: httpx.AsyncClient, name: str, address: int) -> int:
    bank = ok(await client.post("/api/admin/banks", json={"name": name, "port": "COM9",
                                                          "address": address}), 201)
    return int(bank["id"])


async def add_locker(client: httpx.AsyncClient, bank: int, bay: int) -> dict[str, Any]:
    return ok(await client.post("/api/admin/lockers", json={"bankId": bank, "bay": bay}), 201)  # type: ignore[no-any-return]


async def test_a_new_locker_gets_neither_a_deleted_lockers_id_nor_its_audit_trail(
        client: httpx.AsyncClient) -> None:
    bank = await add_bank(client, "BANK-X", 1)
    first = await add_locker(client, bank, 1)
    doomed = await add_locker(client, bank, 2)
    ok(await client.delete(f"/api/admin/lockers/{doomed['id']}"))
    trail_of_doomed = [(e["action"], e["details"].get("identity")) for e in
                       await logs(client, lockerId=doomed["id"])]
    assert trail_of_doomed == [("locker.delete", "BANK-X-02"), ("locker.add", "BANK-X-02")]

    new = await add_locker(client, bank, 3)
    assert new["id"] not in (first["id"], doomed["id"])
    assert new["id"] > doomed["id"]
    trail = await logs(client, lockerId=new["id"])
    assert [(e["action"], e["details"].get("identity")) for e in trail] == [
        ("locker.add", "BANK-X-03")], trail
    # the deleted locker's history stays its own
    assert [(e["action"], e["details"].get("identity")) for e in
            await logs(client, lockerId=doomed["id"])] == trail_of_doomed


# -- every deletable record of the domain -----------------------------------------------------
Create = Callable[[httpx.AsyncClient, int], Awaitable[int]]  # (client, n) -> the new record's id


async def _id(client: httpx.AsyncClient, path: str, body: dict[str, Any], *keys: str) -> int:
    answer = ok(await client.post(path, json=body), 201)
    for key in keys:
        answer = answer[key]
    return int(answer)


async def _device(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/devices", {"code": f"KIOSK-{n}", "name": f"Kiosk {n}"}, "id")


async def _bank(client: httpx.AsyncClient, n: int) -> int:
    return await add_bank(client, f"BANK-{n}", n)


async def _user(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/users", {"username": f"user{n}", "name": f"User {n}"}, "id")


async def _group(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/groups", {"name": f"Group {n}"}, "id")


async def _role(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/roles", {"name": f"Role {n}", "permissions": ["view"]}, "id")


async def _shift(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/shifts", {"name": f"Shift {n}", "starts": "06:00",
                                             "ends": "14:00"}, "id")


async def _shift_device(client: httpx.AsyncClient, n: int) -> int:
    shift = await _shift(client, 100 + n)
    device = await _device(client, 100 + n)
    return await _id(client, "/api/shift-devices", {"shiftId": shift, "deviceId": device}, "id")


async def _lock_group(client: httpx.AsyncClient, n: int) -> int:
    return await _id(client, "/api/lock-groups", {"groupname": f"Lock group {n}"}, "group",
                     "groupid")


RESOURCES: dict[str, tuple[Create, str]] = {  # name -> (create one, its path for DELETE)
    "device": (_device, "/api/devices/{}"),
    "bank": (_bank, "/api/admin/banks/{}"),
    "user": (_user, "/api/users/{}"),
    "group": (_group, "/api/groups/{}"),
    "role": (_role, "/api/roles/{}"),
    "shift": (_shift, "/api/shifts/{}"),
    "shift-device": (_shift_device, "/api/shift-devices/{}"),
    "lock-group": (_lock_group, "/api/lock-groups/{}"),
}


@pytest.mark.parametrize("name", list(RESOURCES))
async def test_a_deleted_records_id_is_never_given_again(client: httpx.AsyncClient,
                                                         name: str) -> None:
    create, path = RESOURCES[name]
    kept = await create(client, 1)
    doomed = await create(client, 2)
    assert doomed > kept
    assert (await client.delete(path.format(doomed))).status_code in (200, 204)
    new = await create(client, 3)
    assert new > doomed, f"{name} {doomed} was deleted and its id given again"


async def test_a_revoked_grant_id_is_never_given_again(client: httpx.AsyncClient) -> None:
    bank = await add_bank(client, "BANK-G", 1)
    lock = (await add_locker(client, bank, 1))["identity"]
    user = await _user(client, 1)

    async def grant() -> int:
        return await _id(client, f"/api/locks/{lock}/access", {"userid": user}, "grant", "grantid")

    await grant()
    doomed = await grant()
    ok(await client.delete(f"/api/locks/{lock}/access/{doomed}"))
    assert await grant() > doomed
