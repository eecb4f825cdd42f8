"""The alerts over REST (issue #21): listed by state, counted for the top bar, acknowledged once by
an operator with a note (kept on the alert, in the audit log, announced to the webhooks), and the
rules kept by admins. The alerts are real: a charge point whose boot the central system rejects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import bearer, make_token
from tests.api.hook_receiver import HookReceiver, create_webhook, waiting
from tests.api.resources import ADMIN, BOOT, error, ok
from tests.ocpp_client import connect

ALERTS = "/api/v1/alerts"
RULES = "/api/v1/alert-rules"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"alert_interval": 0, "outbound_allow": "127.0.0.1", "webhook_backoff": 0.1}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as client:
        yield client


async def rejected_boots(stack: Stack, *ids: str) -> list[dict[str, Any]]:
    """Charge points whose boot is rejected, evaluated: their alerts, oldest first."""
    for cp_id in ids:
        await stack.central.charge_points.create(cp_id, "Rejected", None)
        async with connect(stack.ws_url, cp_id) as cp:
            assert (await cp.call(BOOT)).status == "Rejected"
    outcome = await stack.central.alert_evaluator.evaluate()
    return sorted((a for a in outcome.opened if a["kind"] == "boot_rejected"), key=lambda a: a["id"])


async def test_an_operator_acknowledges_an_alert_once_with_a_note(stack: Stack, http: httpx.AsyncClient) -> None:
    operator = bearer(await make_token(http, "operator", "night-shift"))
    viewer = bearer(await make_token(http, "viewer"))
    async with HookReceiver() as hook:
        await create_webhook(http, hook.url, ["alert.acknowledged"])
        first, second = await rejected_boots(stack, "API-REJ-1", "API-REJ-2")
        assert ok(await http.get(f"{ALERTS}/counts", headers=viewer)) == {"open": 2, "acknowledged": 0}
        listed = ok(await http.get(ALERTS, headers=viewer, params={"state": "open"}))
        assert [a["id"] for a in listed["items"]] == [second["id"], first["id"]] and listed["total"] == 2
        assert listed["items"][1]["title"] == "API-REJ-1's boot was rejected"
        error(await http.post(f"{ALERTS}/{first['id']}/acknowledge", json={}, headers=viewer), 403, "Forbidden")
        done = ok(await http.post(f"{ALERTS}/{first['id']}/acknowledge", headers=operator,
                                  json={"note": "vendor called, firmware mismatch"}))
        assert done["state"] == "acknowledged" and done["note"] == "vendor called, firmware mismatch"
        assert done["acknowledged_by"].startswith("night-shift (token ") and done["acknowledged_at"]
        again = error(await http.post(f"{ALERTS}/{first['id']}/acknowledge", json={"note": "me too"},
                                      headers=ADMIN), 409, "AlertAlreadyAcknowledged")
        assert (again["acknowledged_by"], again["acknowledged_at"]) == (done["acknowledged_by"],
                                                                         done["acknowledged_at"])
        [post] = await waiting(lambda: hook.posts)
    event = post.body["event"]
    assert event["type"] == "alert.acknowledged" and event["charge_point_id"] == "API-REJ-1"
    assert event["alert"]["note"] == "vendor called, firmware mismatch"
    assert ok(await http.get(f"{ALERTS}/{first['id']}", headers=viewer)) == done  # the note was not replaced
    assert ok(await http.get(f"{ALERTS}/counts", headers=viewer)) == {"open": 1, "acknowledged": 1}
    assert [a["id"] for a in ok(await http.get(ALERTS, headers=viewer, params={"state": "acknowledged"}))
            ["items"]] == [first["id"]]
    mine = ok(await http.get(ALERTS, headers=viewer, params={"charge_point_id": "API-REJ-2"}))
    assert [a["id"] for a in mine["items"]] == [second["id"]]
    # the audit log has it too, with who and the note
    logged = ok(await http.get("/api/logs", headers=ADMIN, params={"action": "alert.acknowledged"}))
    [entry] = logged["items"]
    assert entry["actor"] == "night-shift" and entry["details"]["alert_id"] == first["id"]
    assert entry["details"]["note"] == "vendor called, firmware mismatch"
    assert entry["details"]["by"] == done["acknowledged_by"]
    error(await http.post(f"{ALERTS}/999999/acknowledge", json={}, headers=ADMIN), 404, "AlertNotFound")
    error(await http.get(f"{ALERTS}/999999", headers=ADMIN), 404, "AlertNotFound")


async def test_admins_keep_the_rules(stack: Stack, http: httpx.AsyncClient) -> None:
    operator = bearer(await make_token(http, "operator"))
    defaults = ok(await http.get(RULES, headers=ADMIN))
    assert sorted((r["kind"], r["minutes"], r["enabled"]) for r in defaults["items"]) == [
        ("boot_rejected", 0, True), ("faulted", 0, True), ("offline", 10, True), ("stuck_transaction", 0, True)]
    error(await http.get(RULES, headers=operator), 403, "Forbidden")
    made = ok(await http.post(RULES, headers=ADMIN, json={
        "kind": "load_over_limit", "minutes": 5, "emails": ["noc@example.com", "noc@example.com", "b@example.org"]}),
        201)
    assert (made["kind"], made["minutes"], made["enabled"], made["emails"]) == (
        "load_over_limit", 5, True, ["noc@example.com", "b@example.org"])
    changed = ok(await http.patch(f"{RULES}/{made['id']}", headers=ADMIN, json={"enabled": False, "minutes": None}))
    assert (changed["enabled"], changed["minutes"]) == (False, 5)  # null: left as it was
    assert ok(await http.get(f"{RULES}/{made['id']}", headers=ADMIN)) == changed
    for bad in ({"kind": "sunspots"}, {"kind": "offline", "minutes": -1}, {"kind": "offline", "minutes": 10_081},
                {"kind": "offline", "emails": ["not an address"]}):
        error(await http.post(RULES, headers=ADMIN, json=bad), 422, "ValidationError")
    error(await http.post(RULES, headers=operator, json={"kind": "offline"}), 403, "Forbidden")
    assert (await http.delete(f"{RULES}/{made['id']}", headers=ADMIN)).status_code == 204
    error(await http.delete(f"{RULES}/{made['id']}", headers=ADMIN), 404, "AlertRuleNotFound")
    error(await http.patch(f"{RULES}/{made['id']}", headers=ADMIN, json={"minutes": 1}), 404, "AlertRuleNotFound")
    audit = ok(await http.get("/api/logs", headers=ADMIN, params={"action": "alert_rule."}))
    assert [e["action"] for e in audit["items"]] == ["alert_rule.delete", "alert_rule.update", "alert_rule.add"]
    for n in range(96):  # to the most there may be
        ok(await http.post(RULES, headers=ADMIN, json={"kind": "offline", "minutes": n}), 201)
    error(await http.post(RULES, headers=ADMIN, json={"kind": "offline"}), 409, "TooManyAlertRules")
