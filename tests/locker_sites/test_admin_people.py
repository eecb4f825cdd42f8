"""The back office's people and places over REST: shifts, users, groups, roles, locations,
countries, and the audit log's filters."""

from __future__ import annotations

import httpx

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.helpers import rows
from tests.locker_sites.admin_helpers import ADMIN_NAME, MISSING, contains, err, listed, logs, ok
from tests.locker_sites.conftest import audit_actions, locker_id, until


# -- shifts and shift devices ---------------------------------------------------------------------
async def test_shifts_crud_search_paging_and_audit(client: httpx.AsyncClient) -> None:
    morning = ok(await client.post("/api/shifts", json={
        "name": "Morning", "starts": "06:00", "ends": "14:00", "days": [5, 1, 1, 3]}), 201)
    assert morning["days"] == [1, 3, 5]  # a set: sorted, no repeats
    ok(await client.post("/api/shifts", json={"name": "Late", "starts": "14:00", "ends": "22:00"}), 201)
    night = ok(await client.post("/api/shifts", json={"name": "Night", "starts": "22:00", "ends": "06:00"}), 201)
    assert night["days"] == [1, 2, 3, 4, 5, 6, 7]
    err(await client.post("/api/shifts", json={"name": "Morning", "starts": "07:00", "ends": "08:00"}),
        409, "ShiftExists")
    for bad in ({"name": "X", "starts": "24:00", "ends": "08:00"}, {"name": "X", "starts": "7:00", "ends": "08:00"},
                {"name": "X", "starts": "07:00", "ends": "08:00", "days": [0]},
                {"name": "X", "starts": "07:00", "ends": "08:00", "days": []},
                {"name": " ", "starts": "07:00", "ends": "08:00"},
                {"name": "X", "starts": "07:00", "ends": "08:00", "colour": "red"}):
        body = err(await client.post("/api/shifts", json=bad), 422, "ValidationError")
        assert body["fields"]

    page = ok(await client.get("/api/shifts", params={"page_size": 2}))
    assert page["total"] == 3 and [s["name"] for s in page["items"]] == ["Morning", "Late"]
    page2 = ok(await client.get("/api/shifts", params={"page_size": 2, "page": 2}))
    assert [s["name"] for s in page2["items"]] == ["Night"]
    assert await listed(client, "/api/shifts", "name", q="IGH") == ["Night"]
    assert ok(await client.get("/api/shifts", params={"q": "%"}))["total"] == 0  # no wildcards

    assert ok(await client.get(f"/api/shifts/{night['id']}")) == night
    err(await client.get(f"/api/shifts/{MISSING}"), 404, "ShiftNotFound")
    err(await client.get("/api/shifts/0"), 422, "ValidationError")
    edited = ok(await client.patch(f"/api/shifts/{night['id']}", json={"ends": "05:30", "days": [7, 6]}))
    assert (edited["name"], edited["ends"], edited["days"]) == ("Night", "05:30", [6, 7])
    err(await client.patch(f"/api/shifts/{night['id']}", json={"name": "Late"}), 409, "ShiftExists")
    err(await client.patch(f"/api/shifts/{night['id']}", json={"name": None}), 422, "ValidationError")
    err(await client.patch(f"/api/shifts/{MISSING}", json={"ends": "05:00"}), 404, "ShiftNotFound")
    ok(await client.delete(f"/api/shifts/{night['id']}"), 204)
    err(await client.delete(f"/api/shifts/{night['id']}"), 404, "ShiftNotFound")

    entries = await logs(client, action="shift.")
    assert [e["action"] for e in entries] == ["shift.delete", "shift.edit", "shift.add", "shift.add", "shift.add"]
    assert {e["actor"] for e in entries} == {ADMIN_NAME}
    assert entries[1]["details"] == {"shift_id": night["id"], "ends": "05:30", "days": [6, 7]}


async def test_shift_devices(client: httpx.AsyncClient) -> None:
    shift = ok(await client.post("/api/shifts", json={"name": "Early", "starts": "05:00", "ends": "13:00"}), 201)
    other = ok(await client.post("/api/shifts", json={"name": "Day", "starts": "09:00", "ends": "17:00"}), 201)
    k1 = ok(await client.post("/api/devices", json={"code": "K1", "name": "Kiosk one"}), 201)
    k2 = ok(await client.post("/api/devices", json={"code": "K2", "name": "Kiosk two"}), 201)
    entry = ok(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": k1["id"]}), 201)
    assert entry == {"id": entry["id"], "shiftId": shift["id"], "shiftName": "Early", "deviceId": k1["id"],
                     "deviceCode": "K1", "deviceName": "Kiosk one"}
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": k1["id"]}),
        409, "ShiftDeviceExists")
    err(await client.post("/api/shift-devices", json={"shiftId": MISSING, "deviceId": k1["id"]}),
        404, "ShiftNotFound")
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"], "deviceId": MISSING}),
        404, "DeviceNotFound")
    err(await client.post("/api/shift-devices", json={"shiftId": shift["id"]}), 422, "ValidationError")
    second = ok(await client.post("/api/shift-devices", json={"shiftId": other["id"], "deviceId": k1["id"]}), 201)
    ok(await client.post("/api/shift-devices", json={"shiftId": other["id"], "deviceId": k2["id"]}), 201)

    assert ok(await client.get("/api/shift-devices"))["total"] == 3
    assert ok(await client.get("/api/shift-devices", params={"shiftId": other["id"]}))["total"] == 2
    assert ok(await client.get("/api/shift-devices", params={"deviceId": k1["id"]}))["total"] == 2
    assert await listed(client, "/api/shift-devices", "deviceCode", q="two") == ["K2"]
    assert len(ok(await client.get("/api/shift-devices", params={"page_size": 1, "page": 3}))["items"]) == 1

    err(await client.patch(f"/api/shift-devices/{second['id']}", json={"deviceId": k2["id"]}),
        409, "ShiftDeviceExists")
    moved = ok(await client.patch(f"/api/shift-devices/{entry['id']}", json={"deviceId": k2["id"]}))
    assert (moved["shiftName"], moved["deviceCode"]) == ("Early", "K2")
    err(await client.patch(f"/api/shift-devices/{MISSING}", json={"deviceId": k2["id"]}), 404, "ShiftDeviceNotFound")
    ok(await client.delete(f"/api/shift-devices/{entry['id']}"), 204)
    err(await client.get(f"/api/shift-devices/{entry['id']}"), 404, "ShiftDeviceNotFound")
    ok(await client.delete(f"/api/shifts/{other['id']}"), 204)  # its devices go with it
    assert ok(await client.get("/api/shift-devices"))["total"] == 0
    assert [e["action"] for e in await logs(client, action="shift_device.")] == [
        "shift_device.delete", "shift_device.edit", "shift_device.add", "shift_device.add", "shift_device.add"]


# -- users, groups, roles, locations, countries -----------------------------------------------------
async def test_users_crud(site: Stack, client: httpx.AsyncClient) -> None:
    role = ok(await client.post("/api/roles", json={"name": "Staff", "permissions": ["view"]}), 201)
    alice = ok(await client.post("/api/users", json={
        "username": " Alice ", "name": "Alice Example", "email": "alice@example.com", "phone": "+49 30 1234",
        "roleId": role["id"], "password": "correct horse battery"}), 201)
    assert {k: alice[k] for k in ("username", "role", "roleId", "active", "hasPassword")} == {
        "username": "alice", "role": "Staff", "roleId": role["id"], "active": True, "hasPassword": True}
    assert not {"password", "password_hash", "passwordHash"} & set(alice)
    [stored] = await rows(site, "SELECT password_hash FROM users WHERE id = :i", i=alice["id"])
    assert stored["password_hash"].startswith("scrypt$")
    ok(await client.post("/api/users", json={"username": "bob", "name": "Bob", "active": False}), 201)
    ok(await client.post("/api/users", json={"username": "carol", "name": "Carol", "email": "c@example.org"}), 201)

    err(await client.post("/api/users", json={"username": "ALICE", "name": "Again"}), 409, "UserExists")
    err(await client.post("/api/users", json={"username": "dave", "name": "D", "roleId": MISSING}),
        404, "RoleNotFound")
    for bad in ({"username": "dave", "name": "D", "password": "short"}, {"username": "da ve", "name": "D"},
                {"username": "dave", "name": "D", "email": "not-an-email"}, {"username": "dave"},
                {"username": "dave", "name": "D", "phone": "call me"}):
        err(await client.post("/api/users", json=bad), 422, "ValidationError")

    assert ok(await client.get("/api/users"))["total"] == 3
    assert await listed(client, "/api/users", "username", q="example") == ["alice", "carol"]
    assert await listed(client, "/api/users", "username", active=False) == ["bob"]
    assert await listed(client, "/api/users", "username", roleId=role["id"]) == ["alice"]
    assert await listed(client, "/api/users", "username", page_size=2, page=2) == ["carol"]
    assert ok(await client.get(f"/api/users/{alice['id']}")) == alice
    err(await client.get(f"/api/users/{MISSING}"), 404, "UserNotFound")

    edited = ok(await client.patch(f"/api/users/{alice['id']}", json={"email": None, "password": None, "name": "Al"}))
    assert (edited["email"], edited["hasPassword"], edited["name"]) == (None, False, "Al")
    err(await client.patch(f"/api/users/{alice['id']}", json={"username": "bob"}), 409, "UserExists")
    err(await client.patch(f"/api/users/{alice['id']}", json={"roleId": MISSING}), 404, "RoleNotFound")
    err(await client.patch(f"/api/users/{alice['id']}", json={"active": None}), 422, "ValidationError")
    err(await client.patch(f"/api/users/{MISSING}", json={"name": "X"}), 404, "UserNotFound")
    ok(await client.delete(f"/api/users/{alice['id']}"), 204)
    err(await client.delete(f"/api/users/{alice['id']}"), 404, "UserNotFound")
    entries = await logs(client, action="user.")
    assert [e["action"] for e in entries] == ["user.delete", "user.edit", "user.add", "user.add", "user.add"]
    assert entries[1]["details"]["password"] == "removed" and entries[-1]["details"]["password"] == "set"
    assert "correct horse" not in str(entries)


async def test_groups_and_members(client: httpx.AsyncClient) -> None:
    users = [ok(await client.post("/api/users", json={"username": n, "name": n.title()}), 201)["id"]
             for n in ("ann", "ben", "cid")]
    night = ok(await client.post("/api/groups", json={"name": "Night staff", "userIds": [users[0], users[0]]}), 201)
    assert night["memberCount"] == 1 and [m["username"] for m in night["members"]] == ["ann"]
    ok(await client.post("/api/groups", json={"name": "Cleaners", "description": "weekly"}), 201)
    err(await client.post("/api/groups", json={"name": "Night staff"}), 409, "GroupExists")
    missing = err(await client.post("/api/groups", json={"name": "Ghosts", "userIds": [MISSING]}),
                  404, "UserNotFound")
    assert missing["userIds"] == [MISSING]
    assert ok(await client.get("/api/groups"))["total"] == 2  # the failed add left nothing behind
    assert await listed(client, "/api/groups", "name", q="week") == ["Cleaners"]
    assert await listed(client, "/api/groups", "name", page_size=1, page=2) == ["Night staff"]

    view = ok(await client.post(f"/api/groups/{night['id']}/members", json={"userIds": users}))
    assert view["memberCount"] == 3 and [m["username"] for m in view["members"]] == ["ann", "ben", "cid"]
    err(await client.post(f"/api/groups/{night['id']}/members", json={"userIds": []}), 422, "ValidationError")
    err(await client.post(f"/api/groups/{MISSING}/members", json={"userIds": users}), 404, "GroupNotFound")
    ok(await client.delete(f"/api/groups/{night['id']}/members/{users[1]}"), 204)
    err(await client.delete(f"/api/groups/{night['id']}/members/{users[1]}"), 404, "MemberNotFound")
    assert [m["username"] for m in ok(await client.get(f"/api/groups/{night['id']}"))["members"]] == ["ann", "cid"]
    renamed = ok(await client.patch(f"/api/groups/{night['id']}", json={"name": "Nights"}))
    assert renamed["name"] == "Nights" and renamed["memberCount"] == 2
    err(await client.patch(f"/api/groups/{night['id']}", json={"name": "Cleaners"}), 409, "GroupExists")
    ok(await client.delete(f"/api/groups/{night['id']}"), 204)
    err(await client.get(f"/api/groups/{night['id']}"), 404, "GroupNotFound")
    err(await client.delete(f"/api/groups/{night['id']}"), 404, "GroupNotFound")
    assert [e["action"] for e in await logs(client, action="group.")] == [
        "group.delete", "group.edit", "group.member_remove", "group.member_add", "group.add", "group.add"]


async def test_locations_areas_and_countries(client: httpx.AsyncClient) -> None:
    countries = ok(await client.get("/api/countries"))
    assert countries["total"] >= 240 and len(countries["items"]) == countries["total"]
    assert {"code": "DE", "name": "Germany"} in ok(await client.get("/api/countries", params={"q": "germ"}))["items"]
    assert ok(await client.get("/api/countries", params={"q": "zz"}))["total"] == 0

    station = ok(await client.post("/api/locations", json={"name": "Central Station", "address": "Platz 1",
                                                           "countryCode": "de"}), 201)
    assert (station["countryCode"], station["country"], station["areas"]) == ("DE", "Germany", [])
    ok(await client.post("/api/locations", json={"name": "Airport", "countryCode": "FR"}), 201)
    err(await client.post("/api/locations", json={"name": "Central Station"}), 409, "LocationExists")
    err(await client.post("/api/locations", json={"name": "Nowhere", "countryCode": "XX"}), 422, "UnknownCountry")
    err(await client.post("/api/locations", json={"name": "Nowhere", "countryCode": "DEU"}), 422, "ValidationError")

    area = ok(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Level -1"}), 201)
    assert area == {"id": area["id"], "locationId": station["id"], "name": "Level -1"}
    ok(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Hall"}), 201)
    err(await client.post(f"/api/locations/{station['id']}/areas", json={"name": "Hall"}), 409, "AreaExists")
    err(await client.post(f"/api/locations/{MISSING}/areas", json={"name": "Hall"}), 404, "LocationNotFound")

    locations = ok(await client.get("/api/locations"))["items"]
    assert [loc["name"] for loc in locations] == ["Airport", "Central Station"]
    assert [a["name"] for a in locations[1]["areas"]] == ["Hall", "Level -1"]
    assert await listed(client, "/api/locations", "name", countryCode="fr") == ["Airport"]
    assert await listed(client, "/api/locations", "name", q="platz") == ["Central Station"]
    assert (ok(await client.get("/api/locations", params={"page_size": 1, "page": 2}))["items"][0]["name"]
            == "Central Station")
    edited = ok(await client.patch(f"/api/locations/{station['id']}", json={"address": None, "countryCode": "AT"}))
    assert (edited["address"], edited["country"], len(edited["areas"])) == (None, "Austria", 2)
    err(await client.patch(f"/api/locations/{station['id']}", json={"name": "Airport"}), 409, "LocationExists")
    err(await client.patch(f"/api/locations/{station['id']}", json={"countryCode": "XX"}), 422, "UnknownCountry")
    err(await client.get(f"/api/locations/{MISSING}"), 404, "LocationNotFound")
    assert [e["action"] for e in await logs(client, action="area.add")] == ["area.add", "area.add"]
    assert [e["action"] for e in await logs(client, action="location.")] == [
        "location.edit", "location.add", "location.add"]


async def test_roles(client: httpx.AsyncClient) -> None:
    viewer = ok(await client.post("/api/roles", json={"name": "Auditor", "permissions": ["view", "view"]}), 201)
    assert viewer == {"id": viewer["id"], "name": "Auditor", "permissions": ["view"], "users": 0}
    ok(await client.post("/api/roles", json={"name": "Boss", "permissions": ["admin", "operate"]}), 201)
    err(await client.post("/api/roles", json={"name": "Auditor", "permissions": []}), 409, "RoleExists")
    err(await client.post("/api/roles", json={"name": "Root", "permissions": ["root"]}), 422, "ValidationError")
    err(await client.post("/api/roles", json={"name": "Root"}), 422, "ValidationError")
    assert [r["name"] for r in ok(await client.get("/api/roles"))["items"]] == ["Auditor", "Boss"]
    assert await listed(client, "/api/roles", "name", q="bos") == ["Boss"]
    assert ok(await client.get("/api/roles", params={"page_size": 1, "page": 2}))["items"][0]["name"] == "Boss"
    edited = ok(await client.patch(f"/api/roles/{viewer['id']}", json={"permissions": ["operate", "view"]}))
    assert edited["permissions"] == ["operate", "view"]
    err(await client.patch(f"/api/roles/{viewer['id']}", json={"name": "Boss"}), 409, "RoleExists")
    err(await client.patch(f"/api/roles/{MISSING}", json={"name": "X"}), 404, "RoleNotFound")
    ok(await client.post("/api/users", json={"username": "eve", "name": "Eve", "roleId": viewer["id"]}), 201)
    assert ok(await client.get(f"/api/roles/{viewer['id']}"))["users"] == 1
    err(await client.delete(f"/api/roles/{viewer['id']}"), 409, "RoleInUse")
    boss = ok(await client.get("/api/roles", params={"q": "boss"}))["items"][0]
    ok(await client.delete(f"/api/roles/{boss['id']}"), 204)
    err(await client.get(f"/api/roles/{boss['id']}"), 404, "RoleNotFound")
    assert [e["action"] for e in await logs(client, action="role.")] == [
        "role.delete", "role.edit", "role.add", "role.add"]


async def test_log_filters(site: Stack, client: httpx.AsyncClient, emu: Emulator) -> None:
    lid = await locker_id(site, "LOCKER-A-01")
    device = ok(await client.post("/api/devices", json={"code": "K1", "name": "Kiosk"}), 201)
    ok(await client.post(f"/api/bays/{lid}/assign-device", json={"deviceId": device["id"]}))
    ok(await client.post("/api/locker/cabins/LOCKER-A-01/open"))
    await until(lambda: contains(audit_actions(site, lid), "door.opened"), 5)
    everything = await logs(client)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    # the open (by the token) and the door event (by the board) race; the assignment came first
    assert sorted(e["action"] for e in await logs(client, lockerId=lid)) == [
        "bay.assign_device", "door.opened", "locker.open"]
    assert {e["action"] for e in await logs(client, deviceId=device["id"])} >= {"device.add", "bay.assign_device"}
    assert {e["actor"] for e in await logs(client, actor="board")} == {"board"}
    assert [e["action"] for e in await logs(client, action="door.opened")] == ["door.opened"]
    assert await logs(client, action="door.") == await logs(client, action="door.opened")
    first = everything[-1]
    assert [e["id"] for e in await logs(client, until=first["at"])] == []
    assert len(await logs(client, since=first["at"])) == len(everything)
    assert await logs(client, since="2999-01-01T00:00:00Z") == []
    paged = ok(await client.get("/api/logs", params={"page_size": 1}))
    assert paged["total"] == len(everything) and paged["items"][0]["id"] == everything[0]["id"]
    err(await client.get("/api/logs", params={"since": "yesterday"}), 422, "ValidationError")


