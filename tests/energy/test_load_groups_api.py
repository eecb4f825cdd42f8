"""Load groups over REST with real websocket charge points (issue #19): shares go out as
TxProfiles, failsafes as TxDefaultProfiles, a freed share is handed on, refusals are counted."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, FullChargePoint, online
from tests.api.resources import error, eventually, ok

API = "/api/v1/load-groups"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"accept_unknown_id_tags": True, "load_period": 0.05}


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as c:
        yield c


def tx_limits(cp: FullChargePoint) -> list[float]:
    """The TxProfile limits the charge point was sent, in order."""
    return [p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            for p in cp.payloads("SetChargingProfile")
            if p["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"]


def defaults(cp: FullChargePoint) -> list[dict[str, Any]]:
    return [p for p in cp.payloads("SetChargingProfile")
            if p["csChargingProfiles"]["chargingProfilePurpose"] == "TxDefaultProfile"]


async def test_shares_follow_starts_and_stops(stack: Stack, client: httpx.AsyncClient) -> None:
    ids = [f"LM-{i}" for i in range(4)]
    group = ok(await client.post(API, headers=ADMIN, json={
        "name": "car-park", "limit": 100, "unit": "A", "phases": 3,
        "members": [{"charge_point_id": cp, "rating": 32} for cp in ids]}), 201)
    assert group["min_per_session"] == 6 and [m["rating"] for m in group["members"]] == [32] * 4
    async with contextlib.AsyncExitStack() as stack_of:
        cps = [await stack_of.enter_async_context(online(stack, cp)) for cp in ids]
        # each booted member got its failsafe: 100 A over 4 members = 25 A a charge point (the
        # first to connect got more while the others had never connected: not installed yet)
        def limit(cp: FullChargePoint) -> float | None:
            return defaults(cp)[-1]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0][
                "limit"] if defaults(cp) else None
        for cp in cps:
            await cp.wait_for(lambda cp=cp: limit(cp) == 25.0, timeout=5)
            profile = defaults(cp)[-1]
            assert profile["connectorId"] == 0
            assert profile["csChargingProfiles"]["chargingSchedule"] == {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 25.0,
                                                                      "numberPhases": 3}]}
        txs = [await cp.start_transaction(1, "TAG-1") for cp in cps[:3]]
        for cp in cps[:3]:  # three fit at their full rating: 96 A of 100
            await cp.wait_for(lambda cp=cp: tx_limits(cp) and tx_limits(cp)[-1] == 32.0, timeout=5)
        profile = [p["csChargingProfiles"] for p in cps[0].payloads("SetChargingProfile")
                   if p["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"][-1]
        assert profile["transactionId"] == txs[0] and profile["stackLevel"] == 1 and "validTo" in profile
        await cps[3].start_transaction(1, "TAG-1")  # the fourth: 100 A / 4
        for cp in cps:
            await cp.wait_for(lambda cp=cp: tx_limits(cp) and tx_limits(cp)[-1] == 25.0, timeout=5)

        async def four_sessions() -> dict[str, Any]:
            shown = ok(await client.get(f"{API}/{group['id']}", headers=ADMIN))
            assert shown["allocations"]["allocated_w"] == pytest.approx(100 * 3 * 230, abs=1)
            assert [s["limit"] for m in shown["members"] for s in m["sessions"]] == [25.0] * 4
            return shown
        await eventually(four_sessions)
        await cps[0].stop_transaction(txs[0])  # its share goes to the others
        for cp in cps[1:]:
            await cp.wait_for(lambda cp=cp: tx_limits(cp)[-1] == 32.0, timeout=2)


async def test_a_charge_point_that_refuses_is_counted_at_its_rating(stack: Stack,
                                                                     client: httpx.AsyncClient) -> None:
    ok(await client.post(API, headers=ADMIN, json={
        "name": "small", "limit": 40, "members": [{"charge_point_id": "LM-R", "rating": 32},
                                                  {"charge_point_id": "LM-OK", "rating": 32}]}), 201)
    async with online(stack, "LM-R") as refusing, online(stack, "LM-OK") as good:
        refusing.reject.add("SetChargingProfile")
        await refusing.start_transaction(1, "TAG-1")
        await good.start_transaction(1, "TAG-1")
        # the refusing one draws its 32 A regardless: 8 A are left, over the 6 A minimum
        await good.wait_for(lambda: tx_limits(good) and tx_limits(good)[-1] == 8.0, timeout=5)
        shown = ok(await client.get(API, headers=ADMIN))[0]
        assert {m["charge_point_id"]: m["controlled"] for m in shown["members"]} == {"LM-R": False, "LM-OK": True}


async def test_sessions_beyond_capacity_wait_and_start_in_arrival_order(stack: Stack,
                                                                       client: httpx.AsyncClient) -> None:
    ok(await client.post(API, headers=ADMIN, json={
        "name": "cabinet", "limit": 130, "unit": "W", "members": [
            {"kind": "locker_bay", "charge_point_id": f"BAY-{i}", "rating": 60} for i in range(3)]}), 201)
    async with online(stack, "BAY-0") as b0, online(stack, "BAY-1") as b1, online(stack, "BAY-2") as b2:
        tx0 = await b0.start_transaction(1, "TAG-1")
        await b1.start_transaction(1, "TAG-1")
        await b2.start_transaction(1, "TAG-1")
        await b2.wait_for(lambda: tx_limits(b2) and tx_limits(b2)[-1] == 0.0, timeout=5)  # waits
        for bay in (b0, b1):  # a bay is on at its rating or off (the shares go out together)
            await bay.wait_for(lambda bay=bay: tx_limits(bay) and tx_limits(bay)[-1] == 60.0, timeout=5)
        assert [tx_limits(b)[-1] for b in (b0, b1, b2)] == [60.0, 60.0, 0.0]
        await b0.stop_transaction(tx0)
        await b2.wait_for(lambda: tx_limits(b2)[-1] == 60.0, timeout=2)


async def test_refusals_of_the_resource(stack: Stack, client: httpx.AsyncClient) -> None:
    site = ok(await client.post(API, headers=ADMIN, json={"name": "site", "limit": 200,
                                                          "members": [{"charge_point_id": "X-1"}]}), 201)
    assert site["members"][0]["rating"] == 200  # no rating: the group's limit
    error(await client.post(API, headers=ADMIN, json={"name": "site", "limit": 1}), 409, "LoadGroupExists")
    error(await client.post(API, headers=ADMIN, json={"name": "f", "limit": 10, "members": [
        {"charge_point_id": "X-1"}]}), 409, "MemberInOtherGroup")
    error(await client.post(API, headers=ADMIN, json={"name": "f", "limit": 10, "parent_id": 999}),
          422, "UnknownParent")
    error(await client.post(API, headers=ADMIN, json={"name": "f", "limit": 10, "timezone": "Mars/Olympus"}),
          422, "UnknownTimezone")
    error(await client.post(API, headers=ADMIN, json={"name": "f", "limit": 10, "min_per_session": 20}),
          422, "InvalidMinimum")
    error(await client.post(API, headers=ADMIN, json={"name": "f", "limit": 300, "unit": "W", "members": [
        {"kind": "locker_bay", "charge_point_id": "BAY-X"}]}), 422, "RatingRequired")
    error(await client.patch(f"{API}/{site['id']}", headers=ADMIN, json={"unit": "W"}), 409, "UnitChangeWithMembers")
    feeder = ok(await client.post(API, headers=ADMIN, json={"name": "feeder", "limit": 100,
                                                            "parent_id": site["id"]}), 201)
    error(await client.patch(f"{API}/{site['id']}", headers=ADMIN, json={"parent_id": feeder["id"]}),
          422, "GroupCycle")
    error(await client.delete(f"{API}/{site['id']}", headers=ADMIN), 409, "LoadGroupHasChildren")
    error(await client.get(f"{API}/999", headers=ADMIN), 404, "LoadGroupNotFound")
    changed = ok(await client.patch(f"{API}/{feeder['id']}", headers=ADMIN, json={
        "limit": 80, "windows": [{"from": "17:00", "to": "20:00", "limit": 40}], "policy": "priority",
        "tag_priorities": {"FLEET": 5}, "strict_failsafe": True}))
    assert changed["limit"] == 80 and changed["windows"] == [{"from": "17:00", "to": "20:00", "limit": 40.0}]
    assert changed["policy"] == "priority" and changed["tag_priorities"] == {"FLEET": 5}
    assert ok(await client.get(f"{API}/{feeder['id']}", headers=ADMIN))["tag_priorities"] == {"FLEET": 5}
    added = ok(await client.post(f"{API}/{feeder['id']}/members", headers=ADMIN, json={
        "kind": "connector", "charge_point_id": "X-2", "connector_id": 2, "rating": 16}), 201)
    member = added["members"][0]
    changed_member = ok(await client.patch(f"{API}/{feeder['id']}/members/{member['id']}", headers=ADMIN,
                                           json={"rating": 20, "priority": 3}))["members"][0]
    assert (changed_member["rating"], changed_member["priority"], changed_member["connector_id"]) == (20, 3, 2)
    error(await client.patch(f"{API}/{feeder['id']}/members/999", headers=ADMIN, json={"rating": 1}),
          404, "MemberNotFound")
    error(await client.patch(f"{API}/{feeder['id']}/members/{member['id']}", headers=ADMIN, json={"rating": 0}),
          422, "ValidationError")
    error(await client.post(f"{API}/{feeder['id']}/members", headers=ADMIN, json={
        "charge_point_id": "X-2"}), 409, "MemberInOtherGroup")  # whole beside one of its connectors
    ok(await client.delete(f"{API}/{feeder['id']}/members/{member['id']}", headers=ADMIN), 204)
    error(await client.delete(f"{API}/{feeder['id']}/members/{member['id']}", headers=ADMIN), 404, "MemberNotFound")
    ok(await client.delete(f"{API}/{feeder['id']}", headers=ADMIN), 204)
    ok(await client.delete(f"{API}/{site['id']}", headers=ADMIN), 204)
    assert ok(await client.get(API, headers=ADMIN)) == []


async def test_members_join_with_their_running_sessions_and_leave_with_their_limits_lifted(
        stack: Stack, client: httpx.AsyncClient) -> None:
    async with online(stack, "LM-J1") as cp1, online(stack, "LM-J2") as cp2:
        await cp1.status(1, "Charging")
        await cp1.status(2, "Available")  # two connectors: its failsafe is split between them
        tx = await cp1.start_transaction(1, "TAG-1")
        await cp2.start_transaction(1, "TAG-2")
        group = ok(await client.post(API, headers=ADMIN, json={  # over charge points already charging
            "name": "late", "limit": 40, "members": [{"charge_point_id": "LM-J1", "rating": 32},
                                                     {"charge_point_id": "LM-J2", "rating": 32}]}), 201)
        await cp1.wait_for(lambda: tx_limits(cp1) and tx_limits(cp1)[-1] == 20.0, timeout=5)
        await cp2.wait_for(lambda: tx_limits(cp2) and tx_limits(cp2)[-1] == 20.0, timeout=5)
        assert [p["csChargingProfiles"]["transactionId"] for p in cp1.payloads("SetChargingProfile")
                if p["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"][-1] == tx
        # LM-J2 charges on its only connector: its failsafe is its share; LM-J1's, on connector 0,
        # holds for its idle connector too, and the sessions leave nothing over: 0
        await cp2.wait_for(lambda: defaults(cp2) and defaults(cp2)[-1]["csChargingProfiles"][
            "chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 20.0, timeout=5)
        await cp1.wait_for(lambda: defaults(cp1) and defaults(cp1)[-1]["csChargingProfiles"][
            "chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 0.0, timeout=5)
        member = next(m for m in group["members"] if m["charge_point_id"] == "LM-J2")
        ok(await client.delete(f"{API}/{group['id']}/members/{member['id']}", headers=ADMIN), 204)
        await cp2.wait_for(lambda: len(cp2.payloads("ClearChargingProfile")) == 2, timeout=5)
        assert sorted(p["id"] for p in cp2.payloads("ClearChargingProfile")) == [1_900_000_001, 1_950_000_000]
        await cp1.wait_for(lambda: tx_limits(cp1)[-1] == 32.0, timeout=5)  # alone now: its rating
