"""A scripted charge point for the compliance suite (tests/compliance/test_octt16_*.py): the
charge point side of each OCTT 1.6 CSMS test case, written with the ``ocpp`` library, which
checks every CALL the central system sends against the 1.6 schemas (a payload that breaks them
is answered with a CALLERROR, and the test sees it).

Every CSMS-initiated action has a handler: it records the call, answers ``answers[action]`` (or
the default below) and then runs ``after[action]`` in the background, as a real charge point sends
what a command causes (a StatusNotification after ChangeAvailability, the triggered message after
TriggerMessage) once it has answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.ocpp_client import connect as connect_station

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
After = Callable[["Station", dict[str, Any]], Awaitable[None]]

# What the station answers unless a test says otherwise (snake_case, as ocpp's call_result takes)
DEFAULTS: dict[str, dict[str, Any]] = {
    "CancelReservation": {"status": "Accepted"}, "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"}, "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"}, "DataTransfer": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Rejected"}, "GetConfiguration": {"configuration_key": []},
    "GetDiagnostics": {"file_name": "diag.log"}, "GetLocalListVersion": {"list_version": 0},
    "RemoteStartTransaction": {"status": "Accepted"}, "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"}, "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"}, "SetChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"}, "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
    "CertificateSigned": {"status": "Accepted"}, "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "NotFound"}, "GetLog": {"status": "Accepted", "filename": "log.txt"},
    "InstallCertificate": {"status": "Accepted"}, "SignedUpdateFirmware": {"status": "Accepted"},
}


def _handler(action: str) -> Callable[..., Awaitable[Any]]:
    async def handle(self: Station, **payload: Any) -> Any:
        self.received.append((action, payload))
        answer = self.answers.get(action, DEFAULTS[action])
        reply = answer(payload) if callable(answer) else answer
        follow = self.after.get(action)
        if follow is not None:
            task = asyncio.get_running_loop().create_task(self._later(follow, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return getattr(call_result, action)(**reply)

    handle.__name__ = f"on_{action}"
    return on(action)(handle)


class Station(ChargePoint):
    """See the module. ``received``: (action, payload in snake_case) of every call it got."""

    def __init__(self, cp_id: str, ws: Any) -> None:
        super().__init__(cp_id, ws, response_timeout=15)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Answer] = {}
        self.after: dict[str, After] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _later(self, follow: After, payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # the answer is on the wire first
        await follow(self, payload)

    def got(self, action: str) -> list[dict[str, Any]]:
        """The payloads of the calls of ``action`` it received, in order."""
        return [p for a, p in self.received if a == action]

    async def boot(self, connectors: int = 2) -> Any:
        """BootNotification, then Available on connector 0 and each connector (as TC_001 does)."""
        answer = await self.call(call.BootNotification(charge_point_vendor="OCTT", charge_point_model="Sim-16"))
        for connector in range(connectors + 1):
            await self.status(connector, "Available")
        return answer

    async def status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        await self.call(call.StatusNotification(connector_id=connector, error_code=error_code, status=status))


for _action in DEFAULTS:
    setattr(Station, f"on_{_action}", _handler(_action))


@contextlib.asynccontextmanager
async def station(stack: Stack, cp_id: str, **connect: Any) -> AsyncIterator[Station]:
    """A connected :class:`Station` (``connect``: websockets options: ssl, additional_headers)."""
    async with connect_station(stack.ws_url, cp_id, cls=Station, **connect) as cp:
        yield cp


@contextlib.asynccontextmanager
async def operator(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The operator's REST client (admin token)."""
    async with httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN, timeout=20) as client:
        yield client


async def command(client: httpx.AsyncClient, cp_id: str, action: str, payload: dict[str, Any],
                  wait: float = 15) -> dict[str, Any]:
    """Send ``action`` through the commands API; the charge point's answer (asserts it answered)."""
    r = await client.post(f"/api/v1/charge-points/{cp_id}/commands/{action}", json=payload,
                          params={"wait": wait})
    assert r.status_code == 200, r.text
    return r.json()["response"]  # type: ignore[no-any-return]
