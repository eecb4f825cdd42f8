"""Id tags kept in memory (issue #18, csms.store.id_tag_book): a tag once read is judged without a
query, and every change through the API applies from the next frame, at this node and the other."""

from __future__ import annotations

import asyncio

import httpx
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.api.full_cp import eventually
from tests.csms.test_cluster import two_nodes
from tests.csms.test_ocpp201_known_transactions import selects
from tests.ocpp_client import connect

BUDGET = 30.0


async def status(cp: object, tag: str) -> str:
    answer = await cp.call(call.Authorize(id_tag=tag))  # type: ignore[attr-defined]
    return str(answer.id_tag_info["status"])


async def test_a_kept_tag_needs_no_query_and_each_change_applies_from_the_next_frame(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), connect(stack.ws_url, "CP-BOOK") as cp, \
            httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
        assert await status(cp, "TAG-BOOK") == "Invalid"  # unknown: read once, kept as unknown
        with selects(stack) as seen:
            assert await status(cp, "TAG-BOOK") == "Invalid"
        assert seen == []
        assert (await client.post("/api/v1/id-tags", json={"id_tag": "TAG-BOOK"})).status_code == 201
        assert await status(cp, "TAG-BOOK") == "Accepted"
        assert (await client.patch("/api/v1/id-tags/TAG-BOOK", json={"status": "Blocked"})).status_code == 200
        assert await status(cp, "TAG-BOOK") == "Blocked"
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-BOOK", meter_start=0,
                                                    timestamp="2026-12-04T10:00:00Z"))
        assert start.id_tag_info["status"] == "Blocked"
        assert (await client.delete("/api/v1/id-tags/TAG-BOOK")).status_code == 204
        assert await status(cp, "TAG-BOOK") == "Invalid"


async def test_a_change_at_one_node_applies_at_the_other(db_url: str, redis_url: str) -> None:
    async with asyncio.timeout(BUDGET), two_nodes(db_url, redis_url) as (n1, n2), \
            connect(n1.ws_url, "CP-BOOK2") as cp, \
            httpx.AsyncClient(base_url=n2.http_url, headers=ADMIN, timeout=20) as client:
        await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
        assert (await client.post("/api/v1/id-tags", json={"id_tag": "TAG-N2"})).status_code == 201
        assert await status(cp, "TAG-N2") == "Accepted"  # kept at n1 now
        assert (await client.patch("/api/v1/id-tags/TAG-N2", json={"status": "Blocked"})).status_code == 200

        async def blocked() -> bool:
            return await status(cp, "TAG-N2") == "Blocked"
        assert await eventually(blocked, 5.0)
