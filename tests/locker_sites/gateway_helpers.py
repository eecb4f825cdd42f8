"""What the locker gateway's tests share: setting the site up, role tokens, the audit log."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import update

from api.auth import create_token
from chargebay.stack import Stack
from lockers.audit import now_utc
from lockers.models import Device, Locker, User
from tests.helpers import rows
from tests.locker_sites.conftest import audit_actions, locker_id

ADMIN_NAME = "CHARGEBAY_API_TOKEN"  # the name the configured admin token is registered under
DOC_SCHEMAS = {  # the doc's "Schemas" section, in its order
    "Locker", "LockerTypeSummary", "TransactionResponse", "LockerType", "LockController", "System",
    "LockerConfig", "LogEntry", "OperationResponse", "LockerOperationResponse",
    "MultiStatusOperationResponse", "BankType", "OpenAllLockersResponse", "BankTypeAssociation", "Error",
    "BankTypeWithAssociations", "DeviceHeartbeatRequest"}


# -- setting the site up ----------------------------------------------------------------------------
async def ids(site: Stack) -> list[int]:
    """Locker ids of bays 1..4."""
    return [await locker_id(site, f"LOCKER-A-{n:02d}") for n in range(1, 5)]


async def set_lockers(site: Stack, locker_ids: list[int], **values: Any) -> None:
    async with site.central.engine.begin() as conn:
        await conn.execute(update(Locker.__table__).where(Locker.__table__.c.id.in_(locker_ids))
                           .values(**values))


async def add_user(site: Stack, username: str) -> int:
    async with site.central.engine.begin() as conn:
        result = await conn.execute(User.__table__.insert().values(
            username=username, name=username.title(), created_at=now_utc()))
    return int(result.inserted_primary_key[0])


async def add_device(site: Stack, code: str) -> int:
    async with site.central.engine.begin() as conn:
        result = await conn.execute(Device.__table__.insert().values(
            code=code, name=f"Kiosk {code}", created_at=now_utc()))
    return int(result.inserted_primary_key[0])


async def add_type(client: httpx.AsyncClient, name: str, **fields: Any) -> int:
    r = await client.post("/locker-types", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def headers(site: Stack, role: str, device_id: int | None = None) -> dict[str, str]:
    _, token = await create_token(site.central.engine, f"test-{role}", role, device_id=device_id)
    return {"Authorization": f"Bearer {token}"}


async def audit(site: Stack, action: str) -> list[dict[str, Any]]:
    found = await rows(site, "SELECT actor, locker_id, device_id, details FROM audit_log "
                             "WHERE action = :a ORDER BY id", a=action)
    return [{**r, "details": json.loads(r["details"])} for r in found]


def err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text
    return r.json()  # type: ignore[no-any-return]


async def has_entry(site: Stack, locker: int, action: str) -> bool:
    return action in await audit_actions(site, locker)


