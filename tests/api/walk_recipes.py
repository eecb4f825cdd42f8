"""The OpenAPI walk's recipes for statuses no request built from the document can draw: each
sets up the one situation that answers it, with real parts — an app without a simulator or a
bridge, a board that ignores requests or refuses them, a charge point that errs or stays silent,
a database file that is gone, a central system that is shutting down."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from api.app import create_app
from locker_bridge.emulator import Emulator
from locker_bridge.emulator.faults import Fault
from locker_bridge.emulator.model import Device
from lockers.service import SiteService
from tests.api.openapi_walk import Request
from tests.api.walk_station import walk_station
from tests.locker_sites.conftest import locker_id

if TYPE_CHECKING:
    from tests.api.test_openapi_walk import Walk

CABIN_TAG = "WALK-CAB-TAG"
BOARD_OPS = [("POST", "/api/locker/cabins/{cabin}/charging-status", None),
             ("POST", "/api/locker/cabins/{cabin}/locker-status", None),
             ("POST", "/api/locker/cabins/{cabin}/open", None),
             ("POST", "/api/locker/cabins/{cabin}/start-charging", {"idTag": CABIN_TAG}),
             ("POST", "/api/locker/cabins/{cabin}/stop-charging", {})]


async def unconfigured(walk: Walk, admin: dict[str, str]) -> None:
    """The same central system served by an app given no simulator and no bridge: the
    simulator's routes answer 503 ``SimulatorDisabled``, the bridge's listings 404."""
    site = walk.site
    bare = create_app(site.central, None, None, SiteService(site.central.engine, None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://bare",
                                 timeout=20) as client:
        for op in walk.operations():
            if op.path.startswith(("/ocpp/chargers", "/ocpp/sim/", "/api/locker/cabins", "/api/locker/ports")):
                await walk.send(walk.valid(op), admin, client)


async def board_faults(walk: Walk, emu: Emulator, admin: dict[str, str]) -> None:
    """A board that answers BUSY (refused: 409) and one that hears nothing (503), for each
    operation that reaches a board: the cabins', a rental's and a locker's open, a raw frame;
    a charge's start, and a running charge's stop."""
    rental = await _rental(walk, admin)
    r = await walk.http.post("/api/v1/id-tags", json={"id_tag": CABIN_TAG}, headers=admin)
    assert r.status_code == 201, r.text
    command = walk.conformance.operation("POST", "/api/locker/command")
    assert command is not None
    await ready_to_charge(walk, emu, admin, 3)
    for fault in (Fault.BUSY, Fault.IGNORE):
        rule = emu.inject(fault)
        sends = [walk.send(Request(method, path.replace("{cabin}", "LOCKER-A-03"), {}, body, body is not None),
                           admin) for method, path, body in BOARD_OPS]
        sends.append(walk.send(Request("POST", f"/transactions/{rental}/open"), admin))
        sends.append(walk.send(Request("POST", f"/lockers/{await locker_id(walk.site, 'LOCKER-A-04')}/open"), admin))
        sends.append(walk.send(walk.valid(command), admin))
        await asyncio.gather(*sends)
        emu.remove_fault(rule)
    await charge(walk, admin, "LOCKER-A-03")
    rule = emu.inject(Fault.IGNORE)
    await walk.send(Request("POST", "/api/locker/cabins/LOCKER-A-03/stop-charging", {}, {}, True), admin)
    emu.remove_fault(rule)


async def ready_to_charge(walk: Walk, emu: Emulator, admin: dict[str, str], bay: int) -> None:
    """A phone plugged in at ``bay`` of LOCKER-A behind a shut door, as the bridge sees it."""
    emu.boards[1].bays[bay].place(Device.phone())
    emu.boards[1].bays[bay].close_door()
    for _ in range(200):
        cabin = (await walk.http.get(f"/api/locker/cabins/LOCKER-A-0{bay}", headers=admin)).json()["cabin"]
        if cabin["door"] == "closed":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"bay {bay} never shut: {cabin}")


async def charge(walk: Walk, admin: dict[str, str], cabin: str) -> None:
    r = await walk.send(Request("POST", f"/api/locker/cabins/{cabin}/start-charging", {},
                                {"idTag": CABIN_TAG}, True), admin)
    assert r.status_code == 200, r.text


async def raw_frames(walk: Walk, admin: dict[str, str]) -> None:
    """A raw command that is no frame at all: 400."""
    op = walk.conformance.operation("POST", "/api/locker/command")
    assert op is not None
    request = walk.valid(op)
    request.json = {**request.json, "hexCode": "AA01"}
    await walk.send(request, admin)


async def csms_gone(walk: Walk, emu: Emulator, admin: dict[str, str]) -> None:
    """The bays' central system stops listening (its OCPP server closes): a cabin's start and
    stop cannot be authorized or told, 502 ``CsmsUnavailable``."""
    assert walk.site.ocpp is not None
    await ready_to_charge(walk, emu, admin, 1)
    await ready_to_charge(walk, emu, admin, 2)
    await charge(walk, admin, "LOCKER-A-02")
    await walk.site.ocpp.stop()
    await asyncio.gather(*(walk.send(Request("POST", f"/api/locker/cabins/{cabin}/{what}", {}, body, True), admin)
                           for cabin, what, body in (("LOCKER-A-01", "start-charging", {"idTag": CABIN_TAG}),
                                                     ("LOCKER-A-02", "stop-charging", {}))))


async def _rental(walk: Walk, admin: dict[str, str]) -> str:
    """A rental of a locker the bridge drives (LOCKER-A-02)."""
    locker = await locker_id(walk.site, "LOCKER-A-02")
    r = await walk.send(Request("POST", "/transactions", {}, {"lockerId": locker}, True), admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def database_gone(walk: Walk, emu: Emulator, db_url: str, admin: dict[str, str]) -> None:
    """While the database file cannot be opened: /health is 503 ``degraded``, and a cabin's
    start is 502 ``CsmsUnavailable`` (the central system answers its Authorize with an error);
    then the file is back."""
    if not db_url.startswith("sqlite"):
        return
    r = await walk.http.post("/api/v1/id-tags", json={"id_tag": "WALK-NEW-TAG"}, headers=admin)
    assert r.status_code == 201, r.text
    await ready_to_charge(walk, emu, admin, 4)
    path = Path(db_url.split("///", 1)[1])
    aside = path.with_name(path.name + ".aside")
    await walk.site.central.engine.dispose()  # no pooled connection keeps the old file open
    path.rename(aside)
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    try:
        await walk.send(Request("GET", "/health"), None)
        await walk.send(Request("POST", "/api/locker/cabins/LOCKER-A-04/start-charging", {},
                                {"idTag": "WALK-NEW-TAG"}, True), admin)
    finally:
        path.rmdir()
        aside.rename(path)
        await walk.site.central.engine.dispose()


async def integration(walk: Walk, admin: dict[str, str]) -> None:
    """The stop-a-charge integration's start at a chargebox that errs (502), then one that
    accepts and never starts while the central system shuts down (503)."""
    r = await walk.http.put("/api/v1/integration", json={"enabled": True, "allowed_ips": []}, headers=admin)
    assert r.status_code == 200, r.text
    r = await walk.http.post("/api/v1/tokens", json={"name": "walk-billing", "role": "integrator"}, headers=admin)
    key = {"X-API-Key": r.json()["token"]}
    r = await walk.http.post("/api/v1/id-tags", json={"id_tag": "WALK-INT-TAG"}, headers=admin)
    assert r.status_code == 201, r.text
    body = {"connector": 1, "id_tag": "WALK-INT-TAG"}
    async with walk_station(walk.site.ws_url, "WALK-INT-error", "1.6", "error") as station:
        await _plugged(station)
        await walk.send(Request("POST", "/integration/charges/start", {},
                                {**body, "chargebox": "WALK-INT-error"}, True), key)
    async with walk_station(walk.site.ws_url, "WALK-INT-answer", "1.6", "answer") as station:
        await _plugged(station)
        for wait, connector in ((1, 1), (1, 0)):  # accepted, never started: 504; connector 0: 400
            await walk.send(Request("POST", "/integration/charges/start", {"wait": wait},
                                    {**body, "connector": connector, "chargebox": "WALK-INT-answer"}, True), key)
        start = asyncio.create_task(walk.send(Request("POST", "/integration/charges/start", {"wait": 30},
                                                      {**body, "chargebox": "WALK-INT-answer"}, True), key))
        await _until_sent(walk, "WALK-INT-answer", admin)
        walk.site.central.events.close()  # what shutting down does first
        with contextlib.suppress(Exception):
            await asyncio.wait_for(start, 10)


async def _plugged(station: Any) -> None:
    await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})


async def _until_sent(walk: Walk, cp_id: str, admin: dict[str, str]) -> None:
    """Until the RemoteStartTransaction to ``cp_id`` is in the message log."""
    for _ in range(100):
        r = await walk.http.get(f"/api/v1/charge-points/{cp_id}/messages", params={"action": "RemoteStartTransaction"},
                                headers=admin)
        if r.status_code == 200 and r.json()["items"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no RemoteStartTransaction to {cp_id}")


async def open_alert(walk: Walk, admin: dict[str, str]) -> str:
    """An alert that is open: a charge point whose boot the central system rejects, then one
    evaluation of the rules (what the schedule runs). Its id."""
    r = await walk.http.post("/api/v1/charge-points", json={"id": "WALK-ALERT", "registration_status": "Rejected"},
                             headers=admin)
    assert r.status_code == 201, r.text
    async with walk_station(walk.site.ws_url, "WALK-ALERT", "1.6", "answer"):
        pass  # it booted (Rejected) and went
    opened = (await walk.site.central.alert_evaluator.evaluate()).opened
    return str(next(a["id"] for a in opened if a["charge_point_id"] == "WALK-ALERT"))


async def alert_conflicts(walk: Walk, admin: dict[str, str]) -> None:
    """The alert acknowledged once more (409), and rules made to the most there may be (409)."""
    await walk.send(Request("POST", f"/api/v1/alerts/{walk.known['alert_id']}/acknowledge", {}, {}, True), admin)
    for _ in range(101):
        r = await walk.send(Request("POST", "/api/v1/alert-rules", {}, {"kind": "offline"}, True), admin)
        if r.status_code == 409:
            break
