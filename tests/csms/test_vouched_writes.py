"""An answer vouches for what it stored (issue #18 review): meter values and a 2.0.1 Updated event
are queued, not awaited one by one, and answered once their batch is committed; if that batch
fails, the charge point gets an InternalError and sends the message again, which is then stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16
from sqlalchemy import text

from chargebay.stack import Stack
from tests.csms.test_ocpp201_connection import BOOT, station
from tests.csms.test_ocpp201_known_transactions import started, stored, updated
from tests.csms.test_ocpp201_transactions import BUDGET
from tests.helpers import add_id_tag, rows
from tests.ocpp_client import connect


@asynccontextmanager
async def refusing(stack: Stack, table: str) -> AsyncIterator[None]:
    """Every INSERT into ``table`` fails meanwhile (a full disk, a failover)."""
    postgres = stack.central.engine.dialect.name == "postgresql"
    statements = ([f"CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; "
                   "END $$ LANGUAGE plpgsql",
                   f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"]
                  if postgres else
                  [f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'refused'); END"])
    async with stack.central.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    try:
        yield
    finally:
        async with stack.central.engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER refuse ON {table}" if postgres else "DROP TRIGGER refuse"))


async def test_meter_values_not_stored_are_not_answered_as_stored(stack: Stack) -> None:
    sample = [{"timestamp": "2026-12-04T10:00:00Z", "sampled_value": [{"value": "1234"}]}]
    async with asyncio.timeout(BUDGET), connect(stack.ws_url, "CP-VOUCH") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wall"))
        async with refusing(stack, "meter_values"):
            with pytest.raises(InternalError):
                await cp.call(call16.MeterValues(connector_id=1, meter_value=sample), suppress=False)
        await cp.call(call16.MeterValues(connector_id=1, meter_value=sample), suppress=False)  # sent again
    assert [r["value"] for r in await rows(stack, "SELECT value FROM meter_values")] == ["1234"]


async def test_a_fast_updated_event_not_stored_is_sent_again_and_stored_once(stack: Stack) -> None:
    await add_id_tag(stack, "TAG-201")
    async with asyncio.timeout(BUDGET), station(stack, "CP-VOUCH201") as cp:
        await cp.call(BOOT)
        await cp.call(started("TX-V", 100))
        await cp.call(updated(1, "TX-V", 110))
        second = updated(2, "TX-V", 120)
        async with refusing(stack, "transaction_events"):
            with pytest.raises(InternalError):
                await cp.call(second, suppress=False)
        await cp.call(second, suppress=False)  # the same event again
        await cp.call(updated(3, "TX-V", 130), suppress=False)
    _, seqs, values = await stored(stack, "TX-V")
    assert seqs == [0, 1, 2, 3]
    assert values == ["100", "110", "120", "130"]  # the reading of the refused try: kept once
