"""Helpers of the locker-bay behaviour tests (tests/locker_bridge/test_bay_*.py).

Real CSMS and REST API on SQLite, the bridge embedded, the board emulated on a real pty: every
assertion reads what the central system stored or what the emulated hardware really did.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chargebay.stack import Stack
from locker_bridge.board import BoardPoller
from locker_bridge.charge_point import VirtualChargePoint
from locker_bridge.emulator import Device, Emulator
from tests.helpers import add_id_tag, rows
from tests.locker_bridge.conftest import command, until

TAG = "TAG-1"


def ident(n: int) -> str:
    return f"LOCKER-A-{n:02d}"


def vcp(stack: Stack, n: int) -> VirtualChargePoint:
    assert stack.bridge is not None
    return stack.bridge.cps[ident(n)]


def poller_of(stack: Stack) -> BoardPoller:
    assert stack.bridge is not None
    return next(iter(stack.bridge.pollers.values()))


# -- reading what the CSMS stored -----------------------------------------------------------------
async def connector(stack: Stack, n: int, c: int = 1) -> dict[str, Any] | None:
    found = await rows(stack, "SELECT * FROM connectors WHERE charge_point_id = :cp "
                       "AND connector_id = :c", cp=ident(n), c=c)
    return dict(found[0]) if found else None


async def wait_status(stack: Stack, n: int, status: str, c: int = 1,
                      timeout: float = 5.0) -> dict[str, Any]:
    """Until connector ``c`` of bay ``n`` is ``status`` in the CSMS; return its row."""
    last: dict[str, Any] | None = None

    async def check() -> bool:
        nonlocal last
        last = await connector(stack, n, c)
        return last is not None and last["status"] == status

    try:
        await until(check, timeout)
    except AssertionError:
        raise AssertionError(f"{ident(n)}/{c} not {status} within {timeout} s: {last}") from None
    assert last is not None
    return last


async def holds(check: Any, seconds: float) -> None:
    """``check()`` stays truthy for ``seconds`` (short: it is a wait)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert await check()
        await asyncio.sleep(0.1)


async def transactions(stack: Stack, n: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await rows(stack, "SELECT * FROM transactions WHERE charge_point_id = :cp "
                                        "ORDER BY id", cp=ident(n))]


async def open_tx(stack: Stack, n: int, timeout: float = 5.0) -> dict[str, Any]:
    """The running transaction, once the CSMS stored it and the bridge knows its real id."""
    async def check() -> dict[str, Any] | None:
        running = [t for t in await transactions(stack, n) if t["stop_timestamp"] is None]
        tx = vcp(stack, n).bay.tx
        if len(running) == 1 and tx is not None and tx.id == running[0]["id"]:
            return running[0]
        return None

    return await until(check, timeout)  # type: ignore[no-any-return]


async def stopped(stack: Stack, tx_id: int, timeout: float = 5.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await rows(stack, "SELECT * FROM transactions WHERE id = :id", id=tx_id)
        return dict(found[0]) if found and found[0]["stop_timestamp"] is not None else None

    return await until(check, timeout)  # type: ignore[no-any-return]


async def messages(stack: Stack, n: int, action: str, after: int = 0) -> list[dict[str, Any]]:
    """Calls the bay sent to the CSMS (message_type 2, direction in), newer than id ``after``."""
    return [dict(r) for r in await rows(
        stack, "SELECT * FROM messages WHERE charge_point_id = :cp AND direction = 'in' "
        "AND message_type = 2 AND action = :a AND id > :after ORDER BY id",
        cp=ident(n), a=action, after=after)]


async def history(stack: Stack, n: int, c: int = 1) -> list[str]:
    """The statuses the bay reported, repeats folded."""
    found = [r["status"] for r in await rows(
        stack, "SELECT status FROM status_history WHERE charge_point_id = :cp AND connector_id = :c "
        "ORDER BY id", cp=ident(n), c=c)]
    return [s for i, s in enumerate(found) if i == 0 or found[i - 1] != s]


async def last_message_id(stack: Stack) -> int:
    found = await rows(stack, "SELECT MAX(id) AS m FROM messages")
    return int(found[0]["m"] or 0)


# -- doing things ---------------------------------------------------------------------------------
async def load(stack: Stack, emu: Emulator, n: int, device: Device | None = None) -> None:
    """The owner opens bay ``n``, puts a device in and shuts the door: Preparing."""
    bay = emu.boards[1].bays[n]
    bay.open_door()
    bay.place(device or Device.phone())
    bay.close_door()
    await wait_status(stack, n, "Preparing")


async def charging(stack: Stack, emu: Emulator, n: int, device: Device | None = None) -> dict[str, Any]:
    """Load bay ``n`` and start a transaction on it by RemoteStart; return the CSMS's row."""
    await add_id_tag(stack, TAG)
    await load(stack, emu, n, device)
    assert await command(stack, ident(n), "RemoteStartTransaction", {"idTag": TAG}) == {"status": "Accepted"}
    tx = await open_tx(stack, n)
    assert emu.boards[1].bays[n].outlet_on
    return tx


async def remote_stop(stack: Stack, n: int, tx: dict[str, Any]) -> None:
    answer = await command(stack, ident(n), "RemoteStopTransaction", {"transactionId": tx["id"]})
    assert answer == {"status": "Accepted"}


async def data_transfer(stack: Stack, n: int, message_id: str | None,
                        vendor_id: str = "chargebay") -> dict[str, Any]:
    payload = {"vendorId": vendor_id} | ({"messageId": message_id} if message_id else {})
    return await command(stack, ident(n), "DataTransfer", payload)


# == 1. doors and items ===========================================================================


async def _status_is(stack: Stack, n: int, status: str) -> bool:
    row = await connector(stack, n)
    return row is not None and row["status"] == status


async def _still_running(stack: Stack, n: int) -> bool:
    return any(t["stop_timestamp"] is None for t in await transactions(stack, n))


async def _count_at_least(found: Any, count: int) -> bool:
    return len(await found) >= count


async def _not(value: bool) -> bool:
    return not value


async def _true(value: bool) -> bool:
    return value


async def _eq(value: Any, expected: Any) -> bool:
    return bool(value == expected)
