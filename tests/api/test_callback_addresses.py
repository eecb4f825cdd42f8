"""Command callbacks reach only allowed addresses (issue #13, item 7), against a real stack, a real
HTTP receiver on 127.0.0.1 and a real websocket charge point.

A loopback, private, link-local or metadata callback is refused when the command is submitted
(422, nothing stored or sent, the receiver never reached), delivered when
CHARGEBAY_OUTBOUND_ALLOW names it, and refused again when the outcome is sent if the name
resolves elsewhere by then. That last case (DNS rebinding) is the one place a stand-in resolver
is used: no name's real resolution can be changed on this machine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, CallbackReceiver, eventually, online
from tests.helpers import rows


def url(cp_id: str, action: str) -> str:
    return f"/api/v1/charge-points/{cp_id}/commands/{action}"


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


def refused(r: httpx.Response, code: str = "AddressNotAllowed") -> str:
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    assert (body["code"], body["field"]) == (code, "callback_url"), body
    return str(body["message"])


async def callback_outcome(client: httpx.AsyncClient, command_id: str) -> dict[str, Any]:
    """The command once its callback has been attempted (callback_status set)."""
    async def attempted() -> dict[str, Any] | None:
        r = await client.get(f"/api/v1/commands/{command_id}", headers=ADMIN)
        assert r.status_code == 200, r.text
        return r.json() if r.json().get("callback_status") else None

    command = await eventually(attempted, timeout=5)
    assert command is not None, "the callback was never attempted"
    return command  # type: ignore[no-any-return]


def resolving(answers: dict[str, list[list[str]]]) -> Any:
    """A stand-in resolver: each lookup of a name takes its next answer (the last one repeats)."""
    async def resolve(host: str, port: int) -> list[str]:
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]
    return resolve


# -- refused when submitted ------------------------------------------------------------------------
@pytest.mark.parametrize("form", [
    "http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook", "http://127.1:{port}/hook",
    "http://2130706433:{port}/hook", "http://0x7f.1:{port}/hook", "http://017700000001:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook", "https://127.0.0.1:{port}/hook",
])
async def test_callback_at_a_loopback_receiver_is_refused_and_never_reached(
        stack: Stack, client: httpx.AsyncClient, form: str) -> None:
    async with CallbackReceiver() as hook, online(stack, "CP-LOOP") as cp:
        r = await client.post(url("CP-LOOP", "ClearCache"), json={}, headers=ADMIN,
                              params={"callback_url": form.format(port=hook.port)})
        message = refused(r)
        assert "loopback" in message and "CHARGEBAY_OUTBOUND_ALLOW" in message
        await asyncio.sleep(0.3)
        assert cp.calls == []  # refused before anything was sent ...
        assert (hook.connections, hook.requests) == (0, [])  # ... and the receiver never reached
    assert await rows(stack, "SELECT id FROM commands") == []  # nor stored


@pytest.mark.parametrize("callback, why", [
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://100.64.0.1/hook", "CGNAT"),
    ("http://10.0.0.1/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://[fc00::1]/hook", "private"),
    ("http://169.254.1.1/hook", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0:8000/hook", "unspecified"),
    ("http://[::]:8000/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
])
async def test_callback_at_a_non_public_address_is_refused(stack: Stack, client: httpx.AsyncClient,
                                                           callback: str, why: str) -> None:
    async with online(stack, "CP-PRIV") as cp:
        r = await client.post(url("CP-PRIV", "ClearCache"), json={}, headers=ADMIN,
                              params={"wait": 0, "callback_url": callback})
        assert why in refused(r)
        await asyncio.sleep(0.1)
        assert cp.calls == []


@pytest.mark.parametrize("callback", ["file:///etc/passwd", "gopher://127.0.0.1:25/", "ftp://8.8.8.8/x",
                                      "ws://8.8.8.8/hook", "http:///hook", "http://[::1"])
async def test_callback_that_is_not_an_http_url_is_refused(stack: Stack, client: httpx.AsyncClient,
                                                          callback: str) -> None:
    async with online(stack, "CP-SCHEME") as cp:
        r = await client.post(url("CP-SCHEME", "ClearCache"), json={}, headers=ADMIN,
                              params={"wait": 0, "callback_url": callback})
        refused(r, "InvalidUrl")
        await asyncio.sleep(0.1)
        assert cp.calls == []


@pytest.mark.parametrize("settings_overrides", [{"outbound_allow": "10.0.0.0/8, hooks.example"}])
async def test_an_allow_list_admits_only_what_it_names(stack: Stack, client: httpx.AsyncClient) -> None:
    async with CallbackReceiver() as hook, online(stack, "CP-OTHER"):
        r = await client.post(url("CP-OTHER", "ClearCache"), json={}, headers=ADMIN,
                              params={"callback_url": hook.url})
        assert "loopback" in refused(r)
        assert hook.connections == 0


# -- delivered when allowed --------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides, host", [
    ({"outbound_allow": "127.0.0.1"}, "127.0.0.1"),
    ({"outbound_allow": "192.0.2.1, 127.0.0.0/8"}, "127.0.0.1"),
    ({"outbound_allow": "LOCALHOST"}, "localhost"),
], ids=["address", "cidr", "host-name"])
async def test_allow_listed_callback_is_delivered_and_recorded(stack: Stack, client: httpx.AsyncClient,
                                                                host: str) -> None:
    async with CallbackReceiver() as hook, online(stack, "CP-ALLOWED"):
        r = await client.post(url("CP-ALLOWED", "ClearCache"), json={}, headers=ADMIN,
                              params={"callback_url": f"http://{host}:{hook.port}/hook"})
        assert r.status_code == 200, r.text
        command = await callback_outcome(client, r.json()["command_id"])
    assert (command["callback_status"], command["callback_error"]) == ("delivered", None)
    [got] = hook.requests
    assert got["json"]["command_id"] == command["id"] and got["json"]["kind"] == "result"
    assert got["headers"]["host"] == f"{host}:{hook.port}"


@pytest.mark.parametrize("settings_overrides", [{"outbound_allow": "127.0.0.1"}])
async def test_callback_goes_to_the_address_that_was_checked(stack: Stack, client: httpx.AsyncClient) -> None:
    """No second lookup between the check and the connection: a name only the check's resolver
    knows (``.invalid`` never resolves anywhere else) is delivered to, under its own Host."""
    stack.central.callbacks.policy.resolver = resolving({"hooks.invalid": [["127.0.0.1"]]})
    async with CallbackReceiver() as hook, online(stack, "CP-PINNED"):
        r = await client.post(url("CP-PINNED", "ClearCache"), json={}, headers=ADMIN,
                              params={"callback_url": f"http://hooks.invalid:{hook.port}/hook"})
        assert r.status_code == 200, r.text
        command = await callback_outcome(client, r.json()["command_id"])
    assert command["callback_status"] == "delivered", command
    assert hook.requests[0]["headers"]["host"] == f"hooks.invalid:{hook.port}"


# -- refused when sent -------------------------------------------------------------------------
async def test_a_name_rebound_to_loopback_is_refused_when_the_outcome_is_sent(
        stack: Stack, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    """Public when submitted, 127.0.0.1 when the charge point has answered: never POSTed, the
    refusal recorded on the command and logged, and the stack carries on."""
    stack.central.callbacks.policy.resolver = resolving(
        {"rebind.invalid": [["93.184.215.14"], ["127.0.0.1"]]})
    caplog.set_level(logging.WARNING, logger="csms.callbacks")
    async with CallbackReceiver() as hook, online(stack, "CP-REBIND") as cp:
        r = await client.post(url("CP-REBIND", "ClearCache"), json={}, headers=ADMIN,
                              params={"callback_url": f"http://rebind.invalid:{hook.port}/hook"})
        assert r.status_code == 200, r.text  # accepted at submit: the name was public then
        command = await callback_outcome(client, r.json()["command_id"])
        await asyncio.sleep(0.2)
        assert (hook.connections, hook.requests) == (0, [])
        assert command["status"] == "result" and command["callback_status"] == "refused"
        assert "127.0.0.1" in command["callback_error"] and "loopback" in command["callback_error"]
        assert any(command["id"] in rec.getMessage() and "refused" in rec.getMessage()
                   for rec in caplog.records)
        again = await client.post(url("CP-REBIND", "ClearCache"), json={}, headers=ADMIN)
        assert again.status_code == 200 and len(cp.payloads("ClearCache")) == 2
