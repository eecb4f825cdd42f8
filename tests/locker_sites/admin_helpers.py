"""What the back-office tests share: answer checks, list and log readers, role tokens."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from chargebay.stack import Stack
from lockers.models import Locker

ADMIN_NAME = "CHARGEBAY_API_TOKEN"  # the configured admin token's name: the audit log's actor
MISSING = 999_999


# -- helpers --------------------------------------------------------------------------------------
def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json().get("code")) == (status, code), (r.request.url, r.text)
    return r.json()  # type: ignore[no-any-return]


async def logs(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = ok(await client.get("/api/logs", params={"page_size": 1000, **params}))
    return answer["items"]  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Any]:
    """One field of every item of a list answer."""
    return [item[key] for item in ok(await client.get(path, params=params))["items"]]


async def role_headers(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    token = ok(await client.post("/api/v1/tokens", json={"name": f"t-{role}", "role": role}), 201)["token"]
    return {"Authorization": f"Bearer {token}"}


async def bank_id(client: httpx.AsyncClient, name: str = "LOCKER-A") -> int:
    [bank] = ok(await client.get("/api/admin/banks", params={"q": name}))["items"]
    return int(bank["id"])


async def set_locker(site: Stack, lid: int, **values: Any) -> None:
    async with site.central.engine.begin() as conn:
        await conn.execute(update(Locker.__table__).where(Locker.__table__.c.id == lid).values(**values))


async def truthy(value: Any) -> Any:
    return value


async def contains(actions: Any, action: str) -> bool:
    return action in await actions
