"""API tokens are kept in memory for a second after a read (csms.services.tokens.KEEP_S): what
that may and may not change about who gets in."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

import csms.services.tokens as tokens_module
from chargebay.stack import Stack
from csms.services.tokens import KEEP_S, TokenService, create_token
from csms.store.access import ApiToken
from csms.store.models import table
from csms.timeutil import now_utc

_TOKENS = table(ApiToken)


async def test_a_kept_token_is_not_read_again_and_a_revocation_here_counts_at_once(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # kept for a minute here, so that a slow machine cannot turn "within the second" into a read
    monkeypatch.setattr(tokens_module, "KEEP_S", 60.0)
    tokens = stack.central.tokens
    token_id, secret = await tokens.create("kept", "operator")
    issued, holder = await tokens.find(secret)
    assert issued and holder is not None and holder.role == "operator"
    # Kept: a change the service did not make is not seen while the token is kept ...
    async with stack.central.engine.begin() as conn:
        await conn.execute(update(_TOKENS).where(_TOKENS.c.id == token_id).values(role="viewer"))
    assert (await tokens.find(secret))[1].role == "operator"  # type: ignore[union-attr]
    # ... but a revocation through the service counts at once.
    await tokens.revoke(token_id)
    assert await tokens.find(secret) == (True, None)


async def test_a_kept_token_is_read_again_after_the_second(stack: Stack) -> None:
    tokens = stack.central.tokens
    token_id, secret = await tokens.create("re-read", "operator")
    assert (await tokens.find(secret))[1] is not None
    async with stack.central.engine.begin() as conn:
        await conn.execute(update(_TOKENS).where(_TOKENS.c.id == token_id).values(role="viewer"))
    assert await until_refused_or_changed(tokens, secret, "viewer", KEEP_S + 5)


async def until_refused_or_changed(tokens: TokenService, secret: str, role: str, limit: float) -> bool:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        holder = (await tokens.find(secret))[1]
        if holder is None or holder.role == role:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_token_revoked_at_another_node_stops_working_after_the_second(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]  # the service's monotonic clock, moved by hand
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    here = stack.central.tokens
    elsewhere = TokenService(stack.central.engine)  # another node's service on the same store
    token_id, secret = await here.create("two-nodes", "integrator")
    assert (await here.find(secret))[1] is not None  # kept here now
    await elsewhere.revoke(token_id)
    clock[0] += KEEP_S - 0.01
    assert (await here.find(secret))[1] is not None  # still believed, within the second
    clock[0] += 0.02
    assert await here.find(secret) == (True, None)  # read again past it: revoked


class _Watched:
    """An engine whose reads are counted, held until ``gate`` opens (requests that come
    meanwhile pile up behind them) and, with ``linger``, slow to give their connection back
    after the statement ran (``read_done`` set: a read that has its row but has not returned)."""

    def __init__(self, engine: Any, linger: float = 0.0, gate_open: bool = True) -> None:
        self._engine, self.linger = engine, linger
        self.reads = 0
        self.gate, self.read_done = asyncio.Event(), asyncio.Event()
        if gate_open:
            self.gate.set()

    def connect(self) -> Any:
        self.reads += 1
        return _Read(self, self._engine.connect())

    def begin(self) -> Any:
        return self._engine.begin()


class _Read:
    def __init__(self, watched: _Watched, inner: Any) -> None:
        self._watched, self._inner = watched, inner

    async def __aenter__(self) -> Any:
        await self._watched.gate.wait()
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        self._watched.read_done.set()
        await asyncio.sleep(self._watched.linger)
        return await self._inner.__aexit__(*exc)


async def test_a_read_that_overlapped_a_revocation_here_is_not_kept(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = stack.central.tokens
    token_id, secret = await tokens.create("overlap", "operator")
    slow = _Watched(stack.central.engine, linger=0.2)
    monkeypatch.setattr(tokens, "_engine", slow)
    reading = asyncio.create_task(tokens.find(secret))  # reads the row while it is still valid ...
    await slow.read_done.wait()
    await tokens.revoke(token_id)  # ... and returns after the revocation committed
    await reading
    assert await tokens.find(secret) == (True, None)  # what it read was not kept


async def test_login_and_expiring_tokens(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's or kiosk's login token is never kept (the locker back office revokes it in the
    transaction that removes the user): revoked behind the service's back, it is refused at once.
    A kept token that expires is refused from its expiry on."""
    tokens, engine = stack.central.tokens, stack.central.engine
    # a token as a kiosk login issues it (device_id set)
    _, device_token = await create_token(engine, "kiosk-1", "viewer", device_id=4711)
    assert (await tokens.find(device_token))[1] is not None
    async with engine.begin() as conn:
        await conn.execute(update(_TOKENS).where(_TOKENS.c.device_id == 4711).values(revoked_at=now_utc()))
    assert await tokens.find(device_token) == (True, None)

    _, soon = await create_token(engine, "short", "viewer", expires_at=now_utc() + timedelta(minutes=1))
    assert (await tokens.find(soon))[1] is not None  # kept now
    later = now_utc() + timedelta(minutes=1, seconds=1)
    monkeypatch.setattr(tokens_module, "now_utc", lambda: later)  # a minute on, within the keep
    monkeypatch.setattr(tokens_module, "KEEP_S", 3600.0)
    assert await tokens.find(soon) == (True, None)


async def _kept_then_over(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                          name: str) -> tuple[TokenService, int, str, _Watched]:
    """A token read and kept, then its keeping over, reads held at a closed gate from now on."""
    clock = [1000.0]
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    tokens = stack.central.tokens
    token_id, secret = await tokens.create(name, "operator")
    assert (await tokens.find(secret))[1] is not None  # kept
    gate = _Watched(stack.central.engine, gate_open=False)
    monkeypatch.setattr(tokens, "_engine", gate)
    clock[0] += KEEP_S + 0.01  # the keeping is over: the next requests read
    return tokens, token_id, secret, gate


async def test_requests_renewing_a_kept_token_together_share_one_read(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, token_id, secret, gate = await _kept_then_over(stack, monkeypatch, "shared")
    finds = [asyncio.create_task(tokens.find(secret)) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert gate.reads == 1  # one read for all twenty
    # one of them gives up: the read goes on for the others
    finds[0].cancel()
    gate.gate.set()
    results = await asyncio.gather(*finds[1:])
    assert all(issued and holder is not None and holder.token_id == token_id for issued, holder in results)
    assert gate.reads == 1
    assert (await tokens.find(secret))[1] is not None and gate.reads == 1  # kept again


async def test_a_request_after_a_revocation_here_reads_anew_beside_a_read_under_way(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, token_id, secret, gate = await _kept_then_over(stack, monkeypatch, "revoked-meanwhile")
    before = asyncio.create_task(tokens.find(secret))  # a read under way, held at the gate
    await asyncio.sleep(0.05)
    await tokens.revoke(token_id)  # commits while that read waits
    after = asyncio.create_task(tokens.find(secret))
    await asyncio.sleep(0.05)
    assert gate.reads == 2  # its own read, not the one that started before the revocation
    gate.gate.set()
    assert await after == (True, None)
    await before


async def test_a_login_token_is_read_by_every_request(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = stack.central.tokens
    _, login = await create_token(stack.central.engine, "user-login", "viewer", user_id=77)
    gate = _Watched(stack.central.engine, gate_open=False)
    monkeypatch.setattr(tokens, "_engine", gate)
    finds = [asyncio.create_task(tokens.find(login)) for _ in range(5)]
    await asyncio.sleep(0.05)
    gate.gate.set()
    assert all(holder is not None for _, holder in await asyncio.gather(*finds))
    assert gate.reads == 5  # never kept, never shared: a removal counts at once


async def test_a_shared_read_that_fails_fails_every_waiter_and_accepts_nothing(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, _, secret, gate = await _kept_then_over(stack, monkeypatch, "failing")

    def broken() -> Any:
        gate.reads += 1
        raise ConnectionError("store away")

    monkeypatch.setattr(gate, "connect", broken)
    results = await asyncio.gather(*(tokens.find(secret) for _ in range(5)), return_exceptions=True)
    assert gate.reads == 1 and all(isinstance(r, ConnectionError) for r in results)
    with pytest.raises(ConnectionError):  # the stale entry is not believed: read again, and fails again
        await tokens.find(secret)
    assert gate.reads == 2
