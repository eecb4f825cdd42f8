"""The locker gateway's heartbeat, who may call what, the admin interface and the doc's schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from chargebay.stack import Stack
from csms.timeutil import iso
from locker_bridge.emulator import Emulator
from lockers.models import Device
from tests.helpers import rows
from tests.locker_sites.gateway_helpers import DOC_SCHEMAS, add_device, audit, err, headers, ids, set_lockers


# -- heartbeat -------------------------------------------------------------------------------------
async def test_heartbeat(site: Stack, client: httpx.AsyncClient) -> None:
    device = await add_device(site, "KIOSK-01")
    body = {"deviceId": "KIOSK-01", "timestamp": "2026-02-20T22:56:40Z", "status": "ok",
            "uptimeSeconds": 60, "firmwareVersion": "2.4.1", "printerPaper": "low"}
    r = await client.post("/system/heartbeat", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer | {"serverTime": ""} == {"success": True, "message": "heartbeat recorded", "serverTime": "",
                                           "deviceId": "KIOSK-01", "onlineWindowSeconds": 120}
    [row] = await rows(site, "SELECT last_heartbeat_at, heartbeat FROM devices WHERE id = :d", d=device)
    # serverTime is our clock, as recorded: what a device compares its own with
    assert abs(datetime.fromisoformat(answer["serverTime"]) - datetime.now(UTC)) < timedelta(seconds=30)
    async with site.central.engine.connect() as conn:
        recorded = (await conn.execute(select(Device.__table__.c.last_heartbeat_at).where(
            Device.__table__.c.id == device))).scalar_one()
    assert iso(recorded) == answer["serverTime"]
    assert json.loads(row["heartbeat"]) == body | {"timestamp": "2026-02-20T22:56:40Z"}
    # only a first heartbeat and a change of status are audited
    await client.post("/system/heartbeat", json=body)
    await client.post("/system/heartbeat", json=body | {"status": "degraded"})
    assert [(a["device_id"], a["details"]["status"], a["details"]["previousStatus"])
            for a in await audit(site, "device.heartbeat")] == [(device, "ok", None), (device, "degraded", "ok")]

    err(await client.post("/system/heartbeat", json={"deviceId": "NOPE"}), 404, "DeviceNotFound")
    for bad in ({}, {"deviceId": ""}, {"deviceId": "KIOSK-01", "timestamp": "yesterday"},
                {"deviceId": "KIOSK-01", "uptimeSeconds": -1}):
        err(await client.post("/system/heartbeat", json=bad), 400, "ValidationError")
    err(await client.post("/system/heartbeat", json={"deviceId": "KIOSK-01", "blob": "x" * 20_000}),
        400, "HeartbeatTooLarge")


# -- roles -----------------------------------------------------------------------------------------
async def test_permissions_per_role(site: Stack, emu: Emulator, client: httpx.AsyncClient) -> None:
    l1, l2, l3, _ = await ids(site)
    mine, other = await add_device(site, "KIOSK-01"), await add_device(site, "KIOSK-02")
    await set_lockers(site, [l1, l2], device_id=mine)
    await set_lockers(site, [l3], device_id=other)
    held = (await client.post("/transactions", json={"lockerId": l3})).json()["id"]
    base = site.http_url

    async def call(who: dict[str, str], method: str, path: str, **kw: Any) -> int:
        async with httpx.AsyncClient(base_url=base, headers=who, timeout=20) as c:
            return (await c.request(method, path, **kw)).status_code

    reads = ["/lockers", f"/lockers/{l1}", f"/lockers/{l1}/config", "/transactions", f"/transactions/{held}",
             "/locker-types", "/bank-types"]
    viewer = await headers(site, "viewer")
    operator = await headers(site, "operator")
    integrator = await headers(site, "integrator")
    kiosk = await headers(site, "kiosk", device_id=mine)

    for path in reads:
        assert await call(viewer, "GET", path) == 200, path
        assert await call(operator, "GET", path) == 200, path
        assert await call(integrator, "GET", path) == 403, path
        assert await call({}, "GET", path) == 401, path
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/transactions", {"json": {"lockerId": l2}}),
        ("PATCH", f"/lockers/{l2}", {"json": {"brokenLock": False}}),
        ("POST", f"/lockers/{l2}/open", {}),
        ("POST", "/lockers/open-all", {"params": {"deviceId": 999}}),
        ("POST", "/system/heartbeat", {"json": {"deviceId": "KIOSK-01"}}),
        ("POST", "/locker-types", {"json": {"name": "By someone"}}),
        ("POST", "/bank-types", {"json": {"name": "By someone"}}),
    ]
    for method, path, kw in writes:
        assert await call(viewer, method, path, **kw) == 403, path
        assert await call(integrator, method, path, **kw) == 403, path
    allowed = {"/locker-types": 403, "/bank-types": 403, "/transactions": 201}  # types: admin only
    for method, path, kw in writes:
        assert await call(operator, method, path, **kw) == allowed.get(path, 200), path
    emu.boards[1].bays[2].close_door()

    # a kiosk: reads, rents and opens only its own device's lockers; no service changes
    async with httpx.AsyncClient(base_url=base, headers=kiosk, timeout=20) as k:
        assert [x["id"] for x in (await k.get("/lockers")).json()["items"]] == [l1, l2]
        for path in (f"/lockers/{l3}", f"/lockers/{l3}/config", f"/transactions/{held}"):
            err(await k.get(path), 404, "TransactionNotFound" if "transactions" in path else "LockerNotFound")
        assert (await k.get("/transactions")).json()["total"] == 1  # the operator's rental of l2
        err(await k.post(f"/lockers/{l3}/open"), 404, "LockerNotFound")
        err(await k.post("/transactions", json={"lockerId": l3}), 404, "LockerNotFound")
        err(await k.post(f"/transactions/{held}/open"), 404, "TransactionNotFound")
        mine_tx = (await k.post("/transactions", json={"lockerId": l1})).json()["id"]
        assert (await k.post(f"/transactions/{mine_tx}/open")).status_code == 200
        assert emu.boards[1].bays[1].door_open
        emu.boards[1].bays[1].close_door()
        assert (await k.post(f"/transactions/{mine_tx}/release")).status_code == 200
        assert (await k.post(f"/lockers/{l2}/open")).status_code == 200
        r = await k.post("/lockers/open-all")
        assert r.json()["total"] == 2 and not emu.boards[1].bays[3].door_open
        err(await k.patch(f"/lockers/{l1}", json={"brokenLock": True}), 403, "Forbidden")
        err(await k.post("/locker-types", json={"name": "Kiosk type"}), 403, "Forbidden")
        assert (await k.post("/system/heartbeat", json={"deviceId": "KIOSK-01"})).status_code == 200
        err(await k.post("/system/heartbeat", json={"deviceId": "KIOSK-02"}), 404, "DeviceNotFound")
        assert [x["lockers"] for x in (await k.get("/locker-types")).json()["items"]] == []
    assert "test-kiosk" in {a["actor"] for a in await audit(site, "locker.open")}


# -- health & status, and the document -------------------------------------------------------------
async def test_admin_interface_redirects_to_the_dashboards_locker_page(site: Stack) -> None:
    async with httpx.AsyncClient(base_url=site.http_url, timeout=20) as anyone:  # no token: a page
        r = await anyone.get("/admin", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (307, "/ui/lockers")
        page = await anyone.get("/admin", follow_redirects=True)  # the dashboard asks for a login
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert page.url.path == "/" and page.url.params["next"] == "/ui/lockers"


async def test_openapi_has_every_schema_of_the_doc(site: Stack, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    missing = DOC_SCHEMAS - spec["components"]["schemas"].keys()
    assert not missing, sorted(missing)
    ops = spec["paths"]
    assert ops["/admin"]["get"]["tags"] == ["system"] == ops["/health"]["get"]["tags"]
    assert ops["/admin"]["get"]["summary"] == "Admin interface"

    def ref(response: dict[str, Any]) -> str:
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert ref(ops["/lockers/{lockerId}"]["get"]["responses"]["200"]) == "LockerDetails"
    assert ref(ops["/lockers/{lockerId}/config"]["get"]["responses"]["200"]) == "LockerConfig"
    assert ref(ops["/system/heartbeat"]["post"]["responses"]["200"]) == "System"
    open_all = ops["/lockers/open-all"]["post"]["responses"]
    assert (ref(open_all["200"]), ref(open_all["207"])) == ("OpenAllLockersResponse", "MultiStatusOperationResponse")
