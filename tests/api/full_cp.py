"""A test charge point that answers every CSMS-initiated OCPP 1.6 action, plus small API helpers.

``FullChargePoint`` answers each of the 26 actions of :data:`api.command_examples.EXAMPLES` with a
schema-valid ``call_result``; per action it can instead answer a rejection (``reject``), a CALLERROR
(``errors``) or nothing in time (``delays``). It records every CALL exactly as it arrived on the
wire (``calls``) and, like a real charger, can follow an accepted RemoteStartTransaction with a
StartTransaction and an accepted RemoteStopTransaction with a StopTransaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.ocpp_client import TestChargePoint, connect

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_meter = itertools.count(1000, 1000)


class ConfiguredCallError(OCPPError):
    """A CALLERROR with any OCPP error code."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description, {})
        self.code = code


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class FullChargePoint(TestChargePoint):
    """Answers all 26 CSMS-initiated OCPP 1.6 actions; configurable per action.

    * ``reject``: actions answered with their "no" answer (``Rejected``, ``Failed``, ...).
    * ``errors``: action -> (error code, description), answered as a CALLERROR.
    * ``delays``: action -> seconds slept before answering (to make the central system time out).
    * ``follow_remote_start`` / ``follow_remote_stop``: send StartTransaction / StopTransaction
      after accepting RemoteStartTransaction / RemoteStopTransaction.
    """

    __test__ = False

    def __init__(self, cp_id: str, ws: Any) -> None:
        super().__init__(cp_id, ws)
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (action, camelCase payload as sent)
        self.call_ids: list[str] = []  # the message id of each entry of ``calls``
        self.answers: dict[str, list[Any]] = {}  # message id -> CALLRESULT/CALLERROR frame sent
        self.reject: set[str] = set()
        self.errors: dict[str, tuple[str, str]] = {}
        self.delays: dict[str, float] = {}
        self.follow_remote_start = False
        self.follow_remote_stop = False
        self.transactions: dict[int, int] = {}  # connector -> running transactionId
        self.started: list[dict[str, Any]] = []  # follow-up StartTransactions and their answers
        self.stopped: list[int] = []  # transactionIds stopped by follow-up StopTransactions
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accepted: dict[str, bool] = {}

    # -- recording ---------------------------------------------------------------------------
    async def route_message(self, raw_msg: str) -> Any:
        with contextlib.suppress(ValueError, TypeError, IndexError):
            msg = json.loads(raw_msg)
            if msg[0] == 2:
                self.calls.append((msg[2], msg[3]))
                self.call_ids.append(msg[1])
        return await super().route_message(raw_msg)

    async def _send(self, message: str) -> None:
        with contextlib.suppress(ValueError, TypeError, IndexError):
            frame = json.loads(message)
            if frame[0] in (3, 4):
                self.answers[frame[1]] = frame
        await super()._send(message)

    def payloads(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.calls if a == action]

    async def _answer(self, action: str, kwargs: dict[str, Any], accepted: Any, rejected: Any) -> Any:
        self.received.append((action, kwargs))
        delay = self.delays.get(action)
        if delay:
            await asyncio.sleep(delay)
        if action in self.errors:
            code, description = self.errors[action]
            self._accepted[action] = False
            raise ConfiguredCallError(code, description)
        no = action in self.reject
        self._accepted[action] = not no
        return rejected if no else accepted

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what a charge point sends itself ---------------------------------------------------
    async def boot(self) -> Any:
        return await self.call(call.BootNotification(charge_point_model="Full", charge_point_vendor="Tests"))

    async def status(self, connector: int, status: str) -> None:
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError", status=status,
                                                timestamp=_now()))

    async def start_transaction(self, connector: int, id_tag: str) -> int:
        answer = await self.call(call.StartTransaction(connector_id=connector, id_tag=id_tag,
                                                       meter_start=next(_meter), timestamp=_now()))
        self.transactions[connector] = answer.transaction_id
        return int(answer.transaction_id)

    async def stop_transaction(self, transaction_id: int, reason: str = "Local") -> None:
        await self.call(call.StopTransaction(meter_stop=next(_meter), timestamp=_now(),
                                             transaction_id=transaction_id, reason=reason))
        for connector, tx in list(self.transactions.items()):
            if tx == transaction_id:
                del self.transactions[connector]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 2.0) -> Any:
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                await asyncio.sleep(0.01)
        return value

    # -- follow-ups -------------------------------------------------------------------------
    async def _follow_start(self, connector: int, id_tag: str) -> None:
        tx = await self.start_transaction(connector, id_tag)
        self.started.append({"connector_id": connector, "id_tag": id_tag, "transaction_id": tx})

    async def _follow_stop(self, transaction_id: int) -> None:
        await self.stop_transaction(transaction_id, reason="Remote")
        self.stopped.append(transaction_id)

    # -- the 26 CSMS-initiated actions --------------------------------------------------------
    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> Any:
        return await self._answer("CancelReservation", kw, call_result.CancelReservation(status="Accepted"),
                                  call_result.CancelReservation(status="Rejected"))

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw: Any) -> Any:
        return await self._answer("ChangeAvailability", kw, call_result.ChangeAvailability(status="Accepted"),
                                  call_result.ChangeAvailability(status="Rejected"))

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kw: Any) -> Any:
        return await self._answer("ChangeConfiguration", kw, call_result.ChangeConfiguration(status="Accepted"),
                                  call_result.ChangeConfiguration(status="Rejected"))

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        return await self._answer("ClearCache", kw, call_result.ClearCache(status="Accepted"),
                                  call_result.ClearCache(status="Rejected"))

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kw: Any) -> Any:
        return await self._answer("ClearChargingProfile", kw, call_result.ClearChargingProfile(status="Accepted"),
                                  call_result.ClearChargingProfile(status="Unknown"))

    @on("DataTransfer")
    async def on_data_transfer(self, **kw: Any) -> Any:
        return await self._answer("DataTransfer", kw, call_result.DataTransfer(status="Accepted", data="pong"),
                                  call_result.DataTransfer(status="Rejected"))

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **kw: Any) -> Any:
        schedule = {"charging_rate_unit": "W", "duration": kw.get("duration", 3600),
                    "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}]}
        return await self._answer(
            "GetCompositeSchedule", kw,
            call_result.GetCompositeSchedule(status="Accepted", connector_id=kw["connector_id"],
                                             schedule_start="2030-01-01T00:00:00Z", charging_schedule=schedule),
            call_result.GetCompositeSchedule(status="Rejected"))

    @on("GetConfiguration")
    async def on_get_configuration(self, **kw: Any) -> Any:
        keys = kw.get("key") or ["HeartbeatInterval"]
        return await self._answer(
            "GetConfiguration", kw,
            call_result.GetConfiguration(configuration_key=[
                {"key": k, "readonly": False, "value": "300"} for k in keys]),
            call_result.GetConfiguration(configuration_key=[], unknown_key=keys))

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **kw: Any) -> Any:
        return await self._answer("GetDiagnostics", kw, call_result.GetDiagnostics(file_name="diag.tar.gz"),
                                  call_result.GetDiagnostics())

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kw: Any) -> Any:
        return await self._answer("GetLocalListVersion", kw, call_result.GetLocalListVersion(list_version=7),
                                  call_result.GetLocalListVersion(list_version=-1))

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kw: Any) -> Any:
        return await self._answer("RemoteStartTransaction", kw,
                                  call_result.RemoteStartTransaction(status="Accepted"),
                                  call_result.RemoteStartTransaction(status="Rejected"))

    @after("RemoteStartTransaction")
    def after_remote_start(self, **kw: Any) -> None:
        if self.follow_remote_start and self._accepted.get("RemoteStartTransaction"):
            self._spawn(self._follow_start(kw.get("connector_id") or 1, kw["id_tag"]))

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kw: Any) -> Any:
        return await self._answer("RemoteStopTransaction", kw,
                                  call_result.RemoteStopTransaction(status="Accepted"),
                                  call_result.RemoteStopTransaction(status="Rejected"))

    @after("RemoteStopTransaction")
    def after_remote_stop(self, **kw: Any) -> None:
        if self.follow_remote_stop and self._accepted.get("RemoteStopTransaction"):
            self._spawn(self._follow_stop(kw["transaction_id"]))

    @on("ReserveNow")
    async def on_reserve_now(self, **kw: Any) -> Any:
        return await self._answer("ReserveNow", kw, call_result.ReserveNow(status="Accepted"),
                                  call_result.ReserveNow(status="Rejected"))

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        return await self._answer("Reset", kw, call_result.Reset(status="Accepted"),
                                  call_result.Reset(status="Rejected"))

    @on("SendLocalList")
    async def on_send_local_list(self, **kw: Any) -> Any:
        return await self._answer("SendLocalList", kw, call_result.SendLocalList(status="Accepted"),
                                  call_result.SendLocalList(status="Failed"))

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kw: Any) -> Any:
        return await self._answer("SetChargingProfile", kw, call_result.SetChargingProfile(status="Accepted"),
                                  call_result.SetChargingProfile(status="Rejected"))

    @on("TriggerMessage")
    async def on_trigger_message(self, **kw: Any) -> Any:
        return await self._answer("TriggerMessage", kw, call_result.TriggerMessage(status="Accepted"),
                                  call_result.TriggerMessage(status="Rejected"))

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kw: Any) -> Any:
        return await self._answer("UnlockConnector", kw, call_result.UnlockConnector(status="Unlocked"),
                                  call_result.UnlockConnector(status="UnlockFailed"))

    @on("UpdateFirmware")
    async def on_update_firmware(self, **kw: Any) -> Any:
        # The answer has no fields: there is no way to say no but a CALLERROR.
        return await self._answer("UpdateFirmware", kw, call_result.UpdateFirmware(),
                                  call_result.UpdateFirmware())

    @on("CertificateSigned")
    async def on_certificate_signed(self, **kw: Any) -> Any:
        return await self._answer("CertificateSigned", kw, call_result.CertificateSigned(status="Accepted"),
                                  call_result.CertificateSigned(status="Rejected"))

    @on("DeleteCertificate")
    async def on_delete_certificate(self, **kw: Any) -> Any:
        return await self._answer("DeleteCertificate", kw, call_result.DeleteCertificate(status="Accepted"),
                                  call_result.DeleteCertificate(status="Failed"))

    @on("ExtendedTriggerMessage")
    async def on_extended_trigger_message(self, **kw: Any) -> Any:
        return await self._answer("ExtendedTriggerMessage", kw,
                                  call_result.ExtendedTriggerMessage(status="Accepted"),
                                  call_result.ExtendedTriggerMessage(status="Rejected"))

    @on("GetInstalledCertificateIds")
    async def on_get_installed_certificate_ids(self, **kw: Any) -> Any:
        hash_data = [{"hash_algorithm": "SHA256", "issuer_name_hash": "a" * 64,
                      "issuer_key_hash": "b" * 64, "serial_number": "01"}]
        return await self._answer("GetInstalledCertificateIds", kw,
                                  call_result.GetInstalledCertificateIds(status="Accepted",
                                                                         certificate_hash_data=hash_data),
                                  call_result.GetInstalledCertificateIds(status="NotFound"))

    @on("GetLog")
    async def on_get_log(self, **kw: Any) -> Any:
        return await self._answer("GetLog", kw, call_result.GetLog(status="Accepted", filename="log.txt"),
                                  call_result.GetLog(status="Rejected"))

    @on("InstallCertificate")
    async def on_install_certificate(self, **kw: Any) -> Any:
        return await self._answer("InstallCertificate", kw, call_result.InstallCertificate(status="Accepted"),
                                  call_result.InstallCertificate(status="Rejected"))

    @on("SignedUpdateFirmware")
    async def on_signed_update_firmware(self, **kw: Any) -> Any:
        return await self._answer("SignedUpdateFirmware", kw,
                                  call_result.SignedUpdateFirmware(status="Accepted"),
                                  call_result.SignedUpdateFirmware(status="Rejected"))


# -- API helpers shared by the tests/api modules ----------------------------------------------
async def make_token(client: httpx.AsyncClient, role: str, name: str | None = None) -> str:
    """Create a token with ``role`` as the admin; return its secret."""
    r = await client.post("/api/v1/tokens", json={"name": name or f"test-{role}", "role": role},
                          headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def add_tag(client: httpx.AsyncClient, id_tag: str) -> None:
    r = await client.post("/api/v1/id-tags", json={"id_tag": id_tag}, headers=ADMIN)
    assert r.status_code == 201, r.text


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 2.0) -> Any:
    """Await ``check()`` until it returns something truthy (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def api_client(base_url: str, timeout: float = 5.0) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        yield client


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    """One HTTP/1.1 request: (method, path, headers by lower-case name, raw body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:] if line)}
    return method, path, headers, await reader.readexactly(int(headers.get("content-length", "0")))


class CallbackReceiver:
    """A tiny real HTTP/1.1 server on 127.0.0.1 (ephemeral port) that keeps each POSTed JSON body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections = 0  # every TCP connection, a request in it or not
        self.received = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            method, path, headers, body = await read_request(reader)
            self.requests.append({"method": method, "path": path, "headers": headers,
                                  "json": json.loads(body) if body else None})
            self.received.set()
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> CallbackReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def online(stack: Stack, cp_id: str) -> AsyncIterator[FullChargePoint]:
    """A FullChargePoint, connected and booted (so the central system surely serves it)."""
    async with connect(stack.ws_url, cp_id, cls=FullChargePoint) as cp:
        async with asyncio.timeout(2):
            await cp.boot()
        yield cp
