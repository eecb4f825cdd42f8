"""Start and stop a charge (seed 002) on OCPP 2.0.1 stations (issue #16): RequestStartTransaction
with a remoteStartId of the central system's, matched to the TransactionEvent that follows (a
Started, or the Updated that brings the token to a transaction begun at plug-in, or the one the
station names in its answer), answered with our transaction id; RequestStopTransaction with the
station's transaction id; the vendor's error codes as for 1.6. A 1.6 chargebox is started and
stopped through the same calls on the same server meanwhile. The 2.0.1 station is the ``ocpp``
library's, which checks every request against the 2.0.1 schema."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call, call_result

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, add_tag, online
from tests.api.integration_charges.conftest import START_PATHS, STOP_PATHS, assert_error, transaction
from tests.csms.test_ocpp201_connection import BOOT, station

BUDGET = 30.0


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station(ChargePoint201):
    """A station that starts and stops on request, as configured: it may answer the start with
    the transaction it began at plug-in, or leave that to its next event."""

    def __init__(self, cp_id: str, ws: Any, **kwargs: Any) -> None:
        super().__init__(cp_id, ws, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.seq = itertools.count()
        self.plugged: dict[int, str] = {}  # EVSE -> the transaction begun at plug-in, awaiting a token
        self.running: dict[str, int] = {}  # station transaction id -> EVSE
        self.start_status = "Accepted"
        self.stop_status = "Accepted"
        self.follow = True  # send the TransactionEvent a real station sends after an accepted start
        self.name_plugged_transaction = True  # answer a start with the plugged-in transaction's id

    async def event(self, kind: str, tx: str, trigger: str, evse: int | None = None, **extra: Any) -> Any:
        return await self.call(call.TransactionEvent(
            event_type=kind, timestamp=now(), trigger_reason=trigger, seq_no=next(self.seq),
            transaction_info={"transaction_id": tx, **extra.pop("info", {})},
            **({"evse": {"id": evse, "connector_id": 1}} if evse else {}), **extra))

    async def plug_in(self, evse: int, tx: str) -> None:
        """Cable first (TxStartPoint EVConnected): a transaction without a token."""
        await self.event("Started", tx, "CablePluggedIn", evse, info={"charging_state": "EVConnected"})
        self.plugged[evse] = tx

    @on("RequestStartTransaction")
    def on_start(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None,
                 **_: Any) -> Any:
        self.received.append(("RequestStartTransaction", {"id_token": id_token, "remote_start_id": remote_start_id,
                                                          "evse_id": evse_id}))
        plugged = self.plugged.get(evse_id or 0)
        if plugged and self.name_plugged_transaction and self.start_status == "Accepted":
            return call_result.RequestStartTransaction(status="Accepted", transaction_id=plugged)
        return call_result.RequestStartTransaction(status=self.start_status)

    @after("RequestStartTransaction")
    async def started(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None,
                      **_: Any) -> None:
        if self.start_status != "Accepted" or not self.follow:
            return
        evse = evse_id or 1
        token = {"id_token": id_token["id_token"], "type": id_token["type"]}
        plugged = self.plugged.pop(evse, None)
        tx = plugged or f"TX-{self.id}-{remote_start_id}"
        await self.event("Updated" if plugged else "Started", tx, "RemoteStart", evse, id_token=token,
                         info={"remote_start_id": remote_start_id, "charging_state": "Charging"})
        self.running[tx] = evse

    @on("RequestStopTransaction")
    def on_stop(self, transaction_id: str, **_: Any) -> Any:
        self.received.append(("RequestStopTransaction", {"transaction_id": transaction_id}))
        return call_result.RequestStopTransaction(status=self.stop_status)

    @after("RequestStopTransaction")
    async def stopped(self, transaction_id: str, **_: Any) -> None:
        if self.stop_status == "Accepted" and transaction_id in self.running:
            evse = self.running.pop(transaction_id)
            await self.event("Ended", transaction_id, "RemoteStop", evse, info={"stopped_reason": "Remote"})

    def starts(self) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == "RequestStartTransaction"]


async def booted(cp: Station, evses: int = 2) -> None:
    assert (await cp.call(BOOT)).status == "Accepted"
    for evse in range(1, evses + 1):
        await cp.call(call.StatusNotification(timestamp=now(), connector_status="Available", evse_id=evse,
                                              connector_id=1))


async def test_a_201_and_a_16_charge_started_and_stopped_side_by_side(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-201")
    await add_tag(client, "TAG-16")
    async with asyncio.timeout(BUDGET), station(stack, "CB-201", cls=Station) as cp201, \
            online(stack, "CB-16") as cp16:
        await booted(cp201)
        cp16.follow_remote_start = cp16.follow_remote_stop = True
        start201, start16 = await asyncio.gather(
            client.post(START_PATHS[0], json={"chargebox": "CB-201", "connector": 2, "id_tag": "TAG-201"},
                        headers=key),
            client.post(START_PATHS[1], json={"chargebox": "CB-16", "connector": 1, "id_tag": "TAG-16"},
                        headers=key))
        assert start201.status_code == 200 and start16.status_code == 200, (start201.text, start16.text)
        [asked] = cp201.starts()
        assert asked["evse_id"] == 2 and asked["id_token"] == {"id_token": "TAG-201", "type": "Central"}
        assert 0 < asked["remote_start_id"] < 2**31
        tx = await transaction(client, start201.json()["transaction"])
        assert (tx["charge_point_id"], tx["connector_id"], tx["id_tag"], tx["id_tag_status"], tx["active"],
                tx["station_transaction_id"], tx["remote_start_id"]) == (
            "CB-201", 2, "TAG-201", "Accepted", True, f"TX-CB-201-{asked['remote_start_id']}",
            asked["remote_start_id"])
        assert (await transaction(client, start16.json()["transaction"]))["charge_point_id"] == "CB-16"
        assert cp16.payloads("RemoteStartTransaction") == [{"connectorId": 1, "idTag": "TAG-16"}]

        r = await client.post(STOP_PATHS[0], json={"chargebox": "CB-201", "connector": 2, "id_tag": "TAG-201",
                                                   "transaction": tx["id"]}, headers=key)
        assert r.status_code == 200 and r.content == b"", r.text
        assert cp201.received[-1] == ("RequestStopTransaction", {"transaction_id": tx["station_transaction_id"]})
        r = await client.post(STOP_PATHS[1], json={"chargebox": "CB-16", "connector": 1, "id_tag": "TAG-16"},
                              headers=key)
        assert r.status_code == 200, r.text
        for _ in range(100):
            await stack.central.writer.flush()
            ended = await transaction(client, tx["id"])
            if not ended["active"]:
                break
            await asyncio.sleep(0.05)
        assert (ended["active"], ended["stop_reason"]) == (False, "Remote")


async def test_a_start_on_an_evse_plugged_in_first_answers_that_transaction(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    """Cable first: the transaction exists without a token. The station may name it in its answer
    (transactionId) or only in the Updated event carrying the remoteStartId: both are matched."""
    await add_tag(client, "TAG-P1")
    await add_tag(client, "TAG-P2")  # one tag holds one transaction at a time
    async with asyncio.timeout(BUDGET), station(stack, "CB-PLUG", cls=Station) as cp:
        await booted(cp)
        for evse, named in ((1, True), (2, False)):
            cp.name_plugged_transaction = named
            await cp.plug_in(evse, f"TX-PLUG-{evse}")
            r = await client.post(START_PATHS[0], json={"chargebox": "CB-PLUG", "connector": evse,
                                                        "id_tag": f"TAG-P{evse}", "id_token_type": "ISO14443"},
                                  headers=key)
            assert r.status_code == 200, r.text
            tx = await transaction(client, r.json()["transaction"])
            assert (tx["station_transaction_id"], tx["connector_id"]) == (f"TX-PLUG-{evse}", evse)
            if not named:  # matched by the Updated event, which has been stored by then
                assert (tx["id_tag"], tx["id_tag_status"]) == (f"TAG-P{evse}", "Accepted")
        assert [s["id_token"]["type"] for s in cp.starts()] == ["ISO14443", "ISO14443"]
        listed = await client.get("/api/v1/transactions", params={"charge_point_id": "CB-PLUG"}, headers=ADMIN)
        assert len(listed.json()["items"]) == 2  # no transaction made twice


async def test_201_refusals_use_the_vendor_codes(stack: Stack, client: httpx.AsyncClient,
                                                 key: dict[str, str]) -> None:
    await add_tag(client, "TAG-R")
    await add_tag(client, "TAG-OTHER")
    async with asyncio.timeout(BUDGET), station(stack, "CB-REF", cls=Station) as cp:
        await booted(cp, evses=2)
        body = {"chargebox": "CB-REF", "connector": 3, "id_tag": "TAG-R"}
        assert_error(await client.post(START_PATHS[0], json=body, headers=key), 400, "ConnectorNotValid")
        assert cp.starts() == []  # nothing sent for an EVSE the station does not have

        cp.start_status = "Rejected"
        body["connector"] = 1
        assert_error(await client.post(START_PATHS[0], json=body, headers=key), 409, "StartRejected")

        cp.start_status, cp.follow = "Accepted", False  # accepted, and then nothing happens
        r = await client.post(START_PATHS[0], json=body, headers=key, params={"wait": 0.5})
        assert_error(r, 504, "Timeout")

        cp.follow = True
        r = await client.post(START_PATHS[0], json=body, headers=key)
        assert r.status_code == 200, r.text
        tx = r.json()["transaction"]
        assert_error(await client.post(START_PATHS[0], json=body, headers=key), 409, "ConnectorBusy")
        stop = {"chargebox": "CB-REF", "connector": 1, "id_tag": "TAG-OTHER"}
        assert_error(await client.post(STOP_PATHS[0], json=stop, headers=key), 400, "WrongTransaction")
        stop = {"chargebox": "CB-REF", "connector": 2, "id_tag": "TAG-R"}
        assert_error(await client.post(STOP_PATHS[0], json=stop, headers=key), 400, "NotInTransaction")
        cp.stop_status = "Rejected"
        stop = {"chargebox": "CB-REF", "connector": 1, "id_tag": "TAG-R", "transaction": tx}
        assert_error(await client.post(STOP_PATHS[0], json=stop, headers=key), 409, "StopRejected")
        assert (await transaction(client, tx))["active"] is True
    r = await client.post(STOP_PATHS[0], json=stop, headers=key)
    assert_error(r, 409, "ChargeboxOffline")
