"""Webhooks (issue #20): registered over REST, every event of the bus their filter takes POSTed to
a real HTTP receiver on 127.0.0.1, signed (the HMAC verifies), retried with backoff, every
attempt in the delivery log; a slow or dead receiver never holds up the central system; URLs
judged by the same outbound guard as command callbacks (loopback is allowed here by
CHARGEBAY_OUTBOUND_ALLOW, as tests/api/test_callback_addresses.py does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chargebay.stack import Stack
from common.outbound import AllowList
from csms.webhooks import Retry
from tests.api.full_cp import ADMIN, add_tag, bearer, make_token
from tests.api.hook_receiver import HANG, HookReceiver, create_webhook, deliveries, waiting

FAST = {"outbound_allow": "127.0.0.1", "webhook_attempts": 3, "webhook_backoff": 0.2,
        "webhook_timeout": 0.5}
pytestmark = pytest.mark.parametrize("settings_overrides", [FAST])


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=5) as c:
        yield c


async def test_a_delivery_is_signed_and_the_hmac_verifies(stack: Stack, client: httpx.AsyncClient) -> None:
    async with HookReceiver() as hook:
        made = await create_webhook(client, hook.url, ["id_tag_changed"], secret=None)
        secret = made["secret"]  # generated, shown this once
        assert len(secret) >= 32 and made["events"] == ["id_tag_changed"]
        await add_tag(client, "TAG-HOOK")
        [got] = await waiting(lambda: hook.posts)
    assert got.signed_with(secret) and not got.signed_with(secret + "x")
    body = got.body
    assert (body["webhook_id"], body["attempt"]) == (made["id"], 1)
    assert body["event"]["type"] == "id_tag_changed" and body["event"]["id_tag"] == "TAG-HOOK"
    assert got.headers["x-chargebay-event"] == "id_tag_changed"
    assert got.headers["x-chargebay-delivery"] == body["id"]
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["x-chargebay-timestamp"]) - time.time()) < 5
    [logged] = await waiting(lambda: deliveries(client, made["id"]))
    assert (logged["status"], logged["status_code"], logged["attempt"]) == ("delivered", 204, 1)
    assert logged["delivery_id"] == body["id"] and logged["event"] == body["event"]
    # the secret is never shown again
    one = (await client.get(f"/api/v1/webhooks/{made['id']}", headers=ADMIN)).json()
    listed = (await client.get("/api/v1/webhooks", headers=ADMIN)).json()
    assert "secret" not in one and all("secret" not in w for w in listed["items"])
    assert secret not in str(one) + str(listed)
    assert one == {k: v for k, v in made.items() if k != "secret"}


async def test_the_filter_takes_types_prefixes_and_everything(stack: Stack, client: httpx.AsyncClient) -> None:
    async with HookReceiver() as tags, HookReceiver() as locks, HookReceiver() as everything:
        await create_webhook(client, tags.url, ["id_tag_changed"])
        await create_webhook(client, locks.url, ["lock.*", "lock"])
        await create_webhook(client, everything.url, ["*"])
        await add_tag(client, "TAG-FILTER")
        stack.central.events.publish("lock.forced_open", "LOCK-1", lockid="LOCK-1")
        stack.central.events.publish("lockers.other", "LOCK-1")
        wanted = {"id_tag_changed", "lock.forced_open", "lockers.other"}
        await waiting(lambda: wanted <= {r.body["event"]["type"] for r in everything.posts})
        await asyncio.sleep(0.3)
    assert [r.body["event"]["type"] for r in tags.posts] == ["id_tag_changed"]
    assert [r.body["event"]["type"] for r in locks.posts] == ["lock.forced_open"]
    assert {r.body["event"]["type"] for r in everything.posts} <= wanted | {"webhook_changed"}


async def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_is_logged(
        stack: Stack, client: httpx.AsyncClient) -> None:
    async with HookReceiver(answers=[500, 503]) as hook:
        made = await create_webhook(client, hook.url, ["id_tag_changed"])
        await add_tag(client, "TAG-RETRY")
        log = await waiting(lambda: _settled(client, made["id"], 3))
        arrivals = [r.at for r in hook.posts]
    assert [(d["attempt"], d["status"], d["status_code"]) for d in log] == [
        (1, "failed", 500), (2, "failed", 503), (3, "delivered", 204)]
    assert "HTTP 500" in log[0]["error"] and log[2]["error"] is None
    assert len({d["delivery_id"] for d in log}) == 1  # one delivery, three attempts
    assert [r.body["attempt"] for r in hook.posts] == [1, 2, 3]
    assert len({r.body["id"] for r in hook.posts}) == 1
    # 0.2 s, then twice that (CHARGEBAY_WEBHOOK_BACKOFF), signed anew each time
    assert arrivals[1] - arrivals[0] >= 0.19 and arrivals[2] - arrivals[1] >= 0.39
    assert all(r.signed_with("a-test-secret-0123456789") for r in hook.posts)


async def test_a_dead_or_slow_receiver_never_holds_up_the_central_system(
        stack: Stack, client: httpx.AsyncClient) -> None:
    async with HookReceiver(default=HANG) as slow:
        hanging = await create_webhook(client, slow.url, ["id_tag_changed"])
        async with HookReceiver() as gone:
            dead_url = gone.url
        dead = await create_webhook(client, dead_url, ["id_tag_changed"])  # nothing listens there
        async with HookReceiver() as healthy:
            fine = await create_webhook(client, healthy.url, ["id_tag_changed"])
            started = time.monotonic()
            for n in range(5):
                await add_tag(client, f"TAG-BUSY-{n}")
            # waiting for the receivers (3 attempts of 0.5 s and the backoff: 2.1 s an event) would
            # have taken 10 s
            assert time.monotonic() - started < 5
            await waiting(lambda: len(healthy.posts) == 5)  # the healthy one is not held up
        slow_log = await waiting(lambda: _settled(client, hanging["id"], 3), timeout=10)
        dead_log = await waiting(lambda: _settled(client, dead["id"], 3), timeout=10)
    assert [d["status"] for d in slow_log[:3]] == ["failed"] * 3
    assert "Timeout" in slow_log[0]["error"] and slow_log[0]["status_code"] is None
    assert [d["status"] for d in dead_log[:3]] == ["failed"] * 3
    assert "no connection" in dead_log[0]["error"]
    assert [d["status"] for d in await deliveries(client, fine["id"])] == ["delivered"] * 5
    assert (await client.get("/health")).status_code == 200


async def test_a_receiver_that_cannot_keep_up_loses_its_oldest_deliveries_only(
        stack: Stack, client: httpx.AsyncClient) -> None:
    stack.central.deliveries.lane_size = 2  # deliveries that may wait for one receiver
    stack.central.deliveries.retry = Retry(attempts=1, timeout=30)  # the first one hangs till the end
    async with HookReceiver(default=HANG) as slow:
        made = await create_webhook(client, slow.url, ["id_tag_changed"])
        await add_tag(client, "TAG-LANE-0")
        await waiting(lambda: slow.posts)  # its first attempt is under way
        for n in range(1, 6):
            await add_tag(client, f"TAG-LANE-{n}")
        async def three_dropped() -> list[dict[str, Any]] | None:
            found = await deliveries(client, made["id"], status="dropped")
            return found if len(found) == 3 else None

        dropped = await waiting(three_dropped)
    # the first is being attempted; of the five after it the two newest wait, the oldest went
    assert [d["event"]["id_tag"] for d in dropped] == ["TAG-LANE-1", "TAG-LANE-2", "TAG-LANE-3"]
    assert dropped[0]["attempt"] == 0 and "waiting for this receiver" in dropped[0]["error"]


async def test_bad_urls_and_filters_are_refused_as_callback_urls_are(stack: Stack, client: httpx.AsyncClient) -> None:
    stack.central.callbacks.policy.allow = AllowList()  # nothing allowed: the default
    for url, code, why in [("http://127.0.0.1:9/hook", "AddressNotAllowed", "loopback"),
                           ("http://169.254.169.254/latest/meta-data/", "AddressNotAllowed", "metadata"),
                           ("http://10.1.2.3/hook", "AddressNotAllowed", "private"),
                           ("ftp://93.184.215.14/hook", "InvalidUrl", "scheme"),
                           ("http:///hook", "InvalidUrl", "no host")]:
        r = await client.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=ADMIN)
        assert r.status_code == 422, r.text
        body = r.json()
        assert (body["code"], body["field"]) == (code, "url") and why in body["message"], body
    for events in ([], ["Lock Opened"], ["lock.**"], ["x" * 65]):
        r = await client.post("/api/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": events},
                              headers=ADMIN)
        assert (r.status_code, r.json()["code"]) == (422, "ValidationError"), (events, r.text)
    r = await client.post("/api/v1/webhooks", json={"url": "https://93.184.215.14/h", "events": ["*"],
                                                    "secret": "short"}, headers=ADMIN)
    assert r.status_code == 422
    assert (await client.get("/api/v1/webhooks", headers=ADMIN)).json()["total"] == 0


async def test_operators_manage_webhooks_and_nobody_else(stack: Stack, client: httpx.AsyncClient) -> None:
    operator = bearer(await make_token(client, "operator"))
    body = {"url": "https://93.184.215.14/hooks", "events": ["lock.forced_open"]}
    for role in ("viewer", "integrator"):
        token = bearer(await make_token(client, role))
        assert (await client.post("/api/v1/webhooks", json=body, headers=token)).status_code == 403
        assert (await client.get("/api/v1/webhooks", headers=token)).status_code == 403
    r = await client.post("/api/v1/webhooks", json=body, headers=operator)
    assert r.status_code == 201, r.text
    hook_id = r.json()["id"]
    assert r.json()["created_by"].startswith("test-operator (token ")
    assert (await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=operator)).json()["total"] == 0
    assert (await client.delete(f"/api/v1/webhooks/{hook_id}", headers=operator)).status_code == 204
    for method, path in (("DELETE", f"/api/v1/webhooks/{hook_id}"), ("GET", f"/api/v1/webhooks/{hook_id}"),
                         ("GET", f"/api/v1/webhooks/{hook_id}/deliveries")):
        r = await client.request(method, path, headers=operator)
        assert (r.status_code, r.json()["code"]) == (404, "WebhookNotFound"), (method, path)


async def _settled(client: httpx.AsyncClient, webhook_id: int, attempts: int) -> list[dict[str, Any]] | None:
    log = await deliveries(client, webhook_id)
    return log if len(log) >= attempts else None
