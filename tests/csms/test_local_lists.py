"""Local authorization lists as a REST resource (issue #15 item 7; OCTT TC_042, 043)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.auth_helpers import ADMIN
from tests.csms.reservation_station import (
    BUDGET,
    add_tag,
    assert_error,
    session,
)


# -- Local lists -----------------------------------------------------------------------------------
async def send_list(client: httpx.AsyncClient, cp_id: str, update_type: str, **extra: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/charge-points/{cp_id}/local-list", params={"wait": 5},
                          json={"update_type": update_type, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def kept(client: httpx.AsyncClient, cp_id: str) -> tuple[int | None, dict[str, Any]]:
    """The kept list (version, id tag -> entry) and the charge point's own local_list_version."""
    r = await client.get(f"/api/v1/charge-points/{cp_id}/local-list")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["charge_point_id"] == cp_id
    cp = await client.get(f"/api/v1/charge-points/{cp_id}")
    assert cp.json()["local_list_version"] == body["version"], (cp.text, body)
    return body["version"], {e["id_tag"]: e for e in body["entries"]}


def entry(status: str, expiry: str | None = None, parent: str | None = None) -> dict[str, Any]:
    return {"status": status, "expiry_date": expiry, "parent_id_tag": parent}


async def four_tags(client: httpx.AsyncClient) -> str:
    """LL-A Accepted, LL-B Blocked, LL-C expired (sent as Expired), LL-D with parent LL-A and an expiry;
    returns LL-D's expiry."""
    future = "2031-05-06T07:08:09.123456Z"
    await add_tag(client, "LL-A")
    await add_tag(client, "LL-B", status="Blocked")
    await add_tag(client, "LL-C", expiry_date="2020-01-01T00:00:00Z")
    await add_tag(client, "LL-D", parent_id_tag="LL-A", expiry_date=future)
    return future


async def test_tc_043_full_list_sends_every_id_tag_and_is_kept_when_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-FULL") as (cp, client):
        future = await four_tags(client)
        assert await kept(client, "LL-FULL") == (None, {})
        sent = await send_list(client, "LL-FULL", "Full")
        assert (sent["version"], sent["update_type"], sent["group"], sent["entries"], sent["removed"]) == (
            1, "Full", None, 4, 0)
        assert (sent["command"]["outcome"], sent["command"]["response"]) == ("result", {"status": "Accepted"})
        assert cp.got("SendLocalList") == [{"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "LL-A", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "LL-B", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "LL-C", "idTagInfo": {"status": "Expired", "expiryDate": "2020-01-01T00:00:00Z"}},
            {"idTag": "LL-D", "idTagInfo": {"status": "Accepted", "expiryDate": future, "parentIdTag": "LL-A"}}]}]
        assert await kept(client, "LL-FULL") == (1, {
            "LL-A": {"id_tag": "LL-A", **entry("Accepted")}, "LL-B": {"id_tag": "LL-B", **entry("Blocked")},
            "LL-C": {"id_tag": "LL-C", **entry("Expired", "2020-01-01T00:00:00Z")},
            "LL-D": {"id_tag": "LL-D", **entry("Accepted", future, "LL-A")}})
        again = await send_list(client, "LL-FULL", "Full")
        assert again["version"] == 2 and cp.got("SendLocalList")[1]["listVersion"] == 2
        assert (await kept(client, "LL-FULL"))[0] == 2


async def test_tc_043_differential_sends_changed_and_new_tags_and_removes_deleted_ones(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-DIFF") as (cp, client):
        await four_tags(client)
        await send_list(client, "LL-DIFF", "Full")
        assert (await client.patch("/api/v1/id-tags/LL-B", json={"status": "Accepted"})).status_code == 200
        assert (await client.delete("/api/v1/id-tags/LL-C")).status_code == 204
        await add_tag(client, "LL-E", status="Invalid")
        sent = await send_list(client, "LL-DIFF", "Differential")
        assert (sent["version"], sent["entries"], sent["removed"]) == (2, 2, 1)
        assert cp.got("SendLocalList")[1] == {"listVersion": 2, "updateType": "Differential",
                                              "localAuthorizationList": [
                                                  {"idTag": "LL-B", "idTagInfo": {"status": "Accepted"}},
                                                  {"idTag": "LL-E", "idTagInfo": {"status": "Invalid"}},
                                                  {"idTag": "LL-C"}]}
        version, entries = await kept(client, "LL-DIFF")
        assert version == 2
        assert {tag: e["status"] for tag, e in entries.items()} == {
            "LL-A": "Accepted", "LL-B": "Accepted", "LL-D": "Accepted", "LL-E": "Invalid"}
        nothing = await send_list(client, "LL-DIFF", "Differential")
        assert (nothing["version"], nothing["entries"], nothing["removed"]) == (3, 0, 0)
        assert cp.got("SendLocalList")[2] == {"listVersion": 3, "updateType": "Differential",
                                              "localAuthorizationList": []}


async def test_group_list_holds_only_the_tags_whose_parent_is_the_group(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-GRP") as (cp, client):
        await add_tag(client, "FLEET")
        await add_tag(client, "FLEET-1", parent_id_tag="FLEET")
        await add_tag(client, "FLEET-2", parent_id_tag="FLEET", status="Blocked")
        await add_tag(client, "LONER")
        await add_tag(client, "OTHER-1", parent_id_tag="OTHER")
        sent = await send_list(client, "LL-GRP", "Full", group="FLEET")
        assert (sent["group"], sent["entries"]) == ("FLEET", 2)
        assert cp.got("SendLocalList") == [{"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "FLEET-1", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
            {"idTag": "FLEET-2", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}}]}]
        assert sorted((await kept(client, "LL-GRP"))[1]) == ["FLEET-1", "FLEET-2"]
        await add_tag(client, "FLEET-3", parent_id_tag="FLEET")
        await add_tag(client, "LONER-2")
        diff = await send_list(client, "LL-GRP", "Differential", group="FLEET")
        assert cp.got("SendLocalList")[1]["localAuthorizationList"] == [
            {"idTag": "FLEET-3", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}]
        assert (diff["version"], diff["entries"], diff["removed"]) == (2, 1, 0)


@pytest.mark.parametrize("answer", ["Failed", "VersionMismatch", "NotSupported"])
async def test_tc_043_list_not_accepted_changes_neither_kept_list_nor_version(stack: Stack, answer: str) -> None:
    cp_id = f"LL-NO-{answer}"
    async with asyncio.timeout(BUDGET), session(stack, cp_id) as (cp, client):
        await add_tag(client, "LL-KEEP")
        await send_list(client, cp_id, "Full")
        await add_tag(client, "LL-NEW")
        cp.list_answer = answer
        refused = await send_list(client, cp_id, "Differential")
        assert refused["command"]["response"] == {"status": answer} and refused["version"] == 2
        version, entries = await kept(client, cp_id)
        assert (version, sorted(entries)) == (1, ["LL-KEEP"])
        cp.list_answer = "Accepted"
        retried = await send_list(client, cp_id, "Differential")  # the same change, as the same version
        assert cp.got("SendLocalList")[1:] == [{"listVersion": 2, "updateType": "Differential",
                                                "localAuthorizationList": [
                                                    {"idTag": "LL-NEW", "idTagInfo": {"status": "Accepted"}}]}] * 2
        assert retried["version"] == 2
        version, entries = await kept(client, cp_id)
        assert (version, sorted(entries)) == (2, ["LL-KEEP", "LL-NEW"])


async def test_raw_send_local_list_accepted_is_kept_too(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-RAW") as (cp, client):
        payload = {"listVersion": 9, "updateType": "Full", "localAuthorizationList": [
            {"idTag": "RAW-1", "idTagInfo": {"status": "Blocked", "parentIdTag": "RAW-P"}}]}
        r = await client.post("/api/v1/charge-points/LL-RAW/commands/SendLocalList", json=payload)
        assert r.status_code == 200 and r.json()["response"] == {"status": "Accepted"}, r.text
        assert cp.got("SendLocalList") == [payload]
        assert await kept(client, "LL-RAW") == (9, {"RAW-1": {"id_tag": "RAW-1", **entry("Blocked", None, "RAW-P")}})
        cp.list_answer = "Failed"
        r = await client.post("/api/v1/charge-points/LL-RAW/commands/SendLocalList",
                              json={"listVersion": 10, "updateType": "Full", "localAuthorizationList": []})
        assert r.status_code == 200 and r.json()["response"] == {"status": "Failed"}, r.text
        assert (await kept(client, "LL-RAW"))[0] == 9


async def test_list_sent_with_a_given_version(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-VER") as (cp, client):
        await add_tag(client, "LL-V")
        sent = await send_list(client, "LL-VER", "Full", version=41)
        assert sent["version"] == 41 and cp.got("SendLocalList")[0]["listVersion"] == 41
        assert (await kept(client, "LL-VER"))[0] == 41
        assert (await send_list(client, "LL-VER", "Differential"))["version"] == 42
        r = await client.post("/api/v1/charge-points/LL-VER/local-list", json={"update_type": "Full", "version": 0})
        assert r.status_code == 422, r.text
        assert len(cp.got("SendLocalList")) == 2


async def test_tc_042_check_compares_the_version_held_with_the_one_accepted(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-CHK") as (cp, client):
        url = "/api/v1/charge-points/LL-CHK/local-list/check"
        r = await client.post(url)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (None, 0, True)
        assert (body["command"]["outcome"], body["command"]["response"]) == ("result", {"listVersion": 0})
        await add_tag(client, "LL-CK")
        await send_list(client, "LL-CHK", "Full")
        cp.list_version = 1
        body = (await client.post(url)).json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (1, 1, True)
        cp.list_version = 5
        body = (await client.post(url)).json()
        assert (body["expected"], body["charge_point"], body["in_sync"]) == (1, 5, False)
        cp.list_version = -1
        body = (await client.post(url)).json()
        assert (body["charge_point"], body["in_sync"]) == (-1, False)
        assert cp.got("GetLocalListVersion") == [{}] * 4
        assert (await kept(client, "LL-CHK"))[0] == 1  # asking changes nothing kept


async def test_local_list_routes_answer_unknown_and_offline_charge_points(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), httpx.AsyncClient(base_url=stack.http_url, headers=ADMIN,
                                                          timeout=10) as client:
        assert_error(await client.get("/api/v1/charge-points/LL-NONE/local-list"), 404, "ChargePointNotFound")
        assert_error(await client.post("/api/v1/charge-points/LL-NONE/local-list", json={"update_type": "Full"}),
                     404, "ChargePointNotFound")
        assert_error(await client.post("/api/v1/charge-points/LL-NONE/local-list/check"), 404, "ChargePointNotFound")
        assert (await client.post("/api/v1/charge-points", json={"id": "LL-OFF"})).status_code == 201
        await add_tag(client, "LL-O")
        r = await client.post("/api/v1/charge-points/LL-OFF/local-list", json={"update_type": "Full"})
        assert_error(r, 409, "ChargePointOffline")
        assert_error(await client.post("/api/v1/charge-points/LL-OFF/local-list/check"), 409, "ChargePointOffline")
        assert await kept(client, "LL-OFF") == (None, {})


async def test_local_list_unanswered_is_504_and_not_kept(stack: Stack) -> None:
    async with asyncio.timeout(BUDGET), session(stack, "LL-SLOW") as (cp, client):
        await add_tag(client, "LL-S")
        cp.hold = asyncio.Event()
        r = await client.post("/api/v1/charge-points/LL-SLOW/local-list", params={"wait": 1},
                              json={"update_type": "Full"})
        assert_error(r, 504, "Timeout")
        assert r.json()["command_id"]
        assert await kept(client, "LL-SLOW") == (None, {})
        cp.hold.set()
        assert (await client.post("/api/v1/charge-points/LL-SLOW/local-list/check")).status_code == 200
        assert await kept(client, "LL-SLOW") == (None, {})
