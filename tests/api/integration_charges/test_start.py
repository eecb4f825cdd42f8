"""Start a charge (seed 002) over real HTTP: the transaction id it answers, and every way a start
is refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest
from ocpp.v16 import call

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, add_tag, online
from tests.api.integration_charges.conftest import START_PATHS, STOP_PATHS, assert_error, transaction


# -- start a charge ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", START_PATHS)
async def test_start_answers_the_transaction_id(stack: Stack, client: httpx.AsyncClient, key: dict[str, str],
                                               path: str) -> None:
    await add_tag(client, "TAG-S")
    async with online(stack, "CP-20") as cp:
        cp.follow_remote_start = True
        r = await client.post(path, json={"chargebox": "CP-20", "connector": 1, "id_tag": "TAG-S"}, headers=key)
        assert r.status_code == 200, r.text
        await cp.wait_for(lambda: cp.started)  # the CSMS may answer before the CP read its reply
        assert r.json() == {"transaction": cp.started[0]["transaction_id"]}
        assert cp.payloads("RemoteStartTransaction") == [{"connectorId": 1, "idTag": "TAG-S"}]
    tx = r.json()["transaction"]
    listed = await client.get("/api/v1/transactions", params={"charge_point_id": "CP-20"}, headers=ADMIN)
    [item] = listed.json()["items"]
    assert item["id"] == tx
    assert (item["connector_id"], item["id_tag"], item["active"]) == (1, "TAG-S", True)


async def test_start_then_stop_with_the_returned_transaction(stack: Stack, client: httpx.AsyncClient,
                                                            key: dict[str, str]) -> None:
    await add_tag(client, "TAG-RT")
    async with online(stack, "CP-21") as cp:
        cp.follow_remote_start = cp.follow_remote_stop = True
        r = await client.post(START_PATHS[1], json={"chargebox": "CP-21", "connector": 2, "id_tag": "TAG-RT"},
                              headers=key)
        assert r.status_code == 200, r.text
        tx = r.json()["transaction"]
        r = await client.post(STOP_PATHS[1], json={"chargebox": "CP-21", "connector": 2, "id_tag": "TAG-RT",
                                                   "transaction": tx}, headers=key)
        assert r.status_code == 200 and r.content == b""
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]
        await cp.wait_for(lambda: cp.stopped == [tx])


async def test_start_waits_for_its_own_connector(stack: Stack, client: httpx.AsyncClient,
                                                 key: dict[str, str]) -> None:
    """A transaction starting elsewhere meanwhile is not taken for the one asked for."""
    await add_tag(client, "TAG-X")
    await add_tag(client, "TAG-Y")
    await add_tag(client, "TAG-Z")
    async with online(stack, "CP-22") as cp, online(stack, "CP-23") as other:
        cp.follow_remote_start = True
        cp.delays["RemoteStartTransaction"] = 0.2

        async def noise() -> None:
            await asyncio.sleep(0.05)
            await other.start_transaction(1, "TAG-Y")  # same connector number, other chargebox
            await cp.start_transaction(2, "TAG-Z")  # same chargebox, other connector

        noise_task = asyncio.create_task(noise())
        r = await client.post(START_PATHS[0], json={"chargebox": "CP-22", "connector": 1, "id_tag": "TAG-X"},
                              headers=key)
        await noise_task
        assert r.status_code == 200, r.text
        await cp.wait_for(lambda: cp.started)  # the CSMS may answer before the CP read its reply
        assert r.json() == {"transaction": cp.started[0]["transaction_id"]}
        assert cp.started[0]["connector_id"] == 1


async def test_start_rejected(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-24") as cp:
        cp.follow_remote_start = True
        cp.reject.add("RemoteStartTransaction")
        for path in START_PATHS:
            r = await client.post(path, json={"chargebox": "CP-24", "connector": 1, "id_tag": "TAG-1"},
                                  headers=key)
            assert_error(r, 409, "StartRejected")
        await asyncio.sleep(0.1)
        assert cp.started == []


async def test_start_timeout_when_no_transaction_follows(stack: Stack, client: httpx.AsyncClient,
                                                         key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-25") as cp:
        started = time.monotonic()
        r = await client.post(START_PATHS[0], params={"wait": 1},
                              json={"chargebox": "CP-25", "connector": 1, "id_tag": "TAG-1"}, headers=key)
        elapsed = time.monotonic() - started
        assert_error(r, 504, "Timeout")
        assert 0.9 <= elapsed < 1.8
        assert cp.payloads("RemoteStartTransaction") == [{"connectorId": 1, "idTag": "TAG-1"}]


async def test_start_chargebox_offline(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    assert (await client.post("/api/v1/charge-points", json={"id": "CP-26"}, headers=ADMIN)).status_code == 201
    for path in START_PATHS:
        r = await client.post(path, json={"chargebox": "CP-26", "connector": 1, "id_tag": "TAG-1"}, headers=key)
        assert_error(r, 409, "ChargeboxOffline")


@pytest.mark.parametrize("connector", [0, -1])
async def test_start_connector_not_valid(stack: Stack, client: httpx.AsyncClient, key: dict[str, str],
                                         connector: int) -> None:
    async with online(stack, "CP-27") as cp:
        for path in START_PATHS:
            r = await client.post(path, json={"chargebox": "CP-27", "connector": connector, "id_tag": "T"},
                                  headers=key)
            assert_error(r, 400, "ConnectorNotValid")
        assert cp.calls == []


async def test_start_chargebox_not_found(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    for path in START_PATHS:
        r = await client.post(path, json={"chargebox": "NOPE", "connector": 1, "id_tag": "T"}, headers=key)
        assert_error(r, 404, "ChargeboxNotFound")


async def test_start_on_a_busy_connector(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-28") as cp:
        await cp.start_transaction(1, "TAG-1")
        r = await client.post(START_PATHS[0], json={"chargebox": "CP-28", "connector": 1, "id_tag": "TAG-2"},
                              headers=key)
        assert r.status_code == 409 and r.json()["code"] == "ConnectorBusy"
        assert cp.payloads("RemoteStartTransaction") == []


async def test_start_where_the_chargebox_forgot_its_transaction(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    """The central system still holds a transaction open on the connector, but the chargebox
    (which forgot it) reports the connector Available: a start is not refused ConnectorBusy, and
    the chargebox's new StartTransaction ends the forgotten one."""
    await add_tag(client, "TAG-F")
    async with online(stack, "CP-FORGOT") as cp:
        old = await cp.start_transaction(1, "TAG-F")
        body = {"chargebox": "CP-FORGOT", "connector": 1, "id_tag": "TAG-F"}
        for status in ("Charging", "Preparing"):  # some charge points say Preparing while they charge
            await cp.status(1, status)
            assert_error(await client.post(START_PATHS[0], json=body, headers=key), 409, "ConnectorBusy")
        # an Available stamped before the start (replayed from a queue) frees nothing either
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              timestamp="2020-01-01T00:00:00Z"))
        assert_error(await client.post(START_PATHS[0], json=body, headers=key), 409, "ConnectorBusy")
        # nor one the charge point contradicts by metering the transaction after it
        await cp.status(1, "Available")
        await cp.call(call.MeterValues(connector_id=1, transaction_id=old, meter_value=[
            {"timestamp": datetime.now(UTC).isoformat(), "sampledValue": [{"value": "5"}]}]))
        assert_error(await client.post(START_PATHS[0], json=body, headers=key), 409, "ConnectorBusy")
        await cp.status(1, "Available")
        cp.follow_remote_start = True
        r = await client.post(START_PATHS[0], json={"chargebox": "CP-FORGOT", "connector": 1, "id_tag": "TAG-F"},
                              headers=key)
        assert r.status_code == 200, r.text
        assert cp.payloads("RemoteStartTransaction") == [{"connectorId": 1, "idTag": "TAG-F"}]
    assert r.json()["transaction"] != old
    ended = await transaction(client, old)
    assert (ended["active"], ended["end_source"]) == (False, "superseded")
    assert (await transaction(client, r.json()["transaction"]))["active"] is True


async def test_start_refused_in_its_start_transaction_is_not_a_charge(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    """The tag was Accepted when the start was asked for and Blocked by the time the chargebox
    sent its StartTransaction: the central system answered Blocked, so this is no charge (it was
    answered 200 with the transaction id)."""
    await add_tag(client, "TAG-LATE")
    async with online(stack, "CP-LATE") as cp:
        cp.follow_remote_start = True
        cp.delays["RemoteStartTransaction"] = 0.5
        asking = asyncio.ensure_future(client.post(
            "/integration/charges/start", headers=key,
            json={"chargebox": "CP-LATE", "connector": 1, "id_tag": "TAG-LATE"}))
        await cp.wait_for(lambda: cp.received)
        r = await client.patch("/api/v1/id-tags/TAG-LATE", json={"status": "Blocked"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        r = await asking
        await cp.wait_for(lambda: cp.started)
    assert_error(r, 409, "IdTagRejected")
    assert r.json()["id_tag_status"] == "Blocked"
    assert r.json()["transaction"] == cp.started[0]["transaction_id"]


async def test_start_with_a_tag_the_csms_refuses_sends_nothing(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    async with online(stack, "CP-NOTAG") as cp:
        cp.follow_remote_start = True
        r = await client.post("/integration/charges/start", headers=key,
                              json={"chargebox": "CP-NOTAG", "connector": 1, "id_tag": "NOBODY"})
        assert_error(r, 409, "IdTagRejected")
        assert r.json()["id_tag_status"] == "Invalid"
        assert cp.calls == []
