"""Alerts (issue #21): real charge points over real websockets make the conditions (a connector
Faulted, a charge point gone, a boot rejected, a silent session, a load group over its limit), one
evaluation at a time (``central.alert_evaluator.evaluate()``, what the schedule runs) opens an
alert once per rule and subject and clears it when the condition ends; a real webhook receiver
gets the events and a real SMTP server (aiosmtpd) the e-mails, retried when it refuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from sqlalchemy import func, select

from chargebay.stack import Stack
from common.db import create_engine
from csms.alerts.evaluator import AlertEvaluator, Outcome
from csms.alerts.mailer import Mailer, Smtp
from csms.alerts.shapes import ALERTS
from csms.events import EventBus
from csms.queries import Page
from csms.queries.network import NetworkQueries
from csms.store.writer import Writer
from csms.webhooks import Retry
from tests.api.hook_receiver import HookReceiver, create_webhook, waiting
from tests.api.resources import BOOT
from tests.csms.smtp_sink import SmtpSink
from tests.ocpp_client import connect

OPS = "ops@example.com"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    async with SmtpSink(refuse=1) as sink:  # the first message is refused once: retried
        yield sink


@pytest.fixture
def settings_overrides(smtp: SmtpSink) -> dict[str, Any]:
    return {"alert_interval": 0, "stuck_transaction_after": 1.0, "accept_unknown_id_tags": True,
            "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_starttls": False,
            "smtp_from": "alerts@chargebay.test", "webhook_attempts": 3, "webhook_backoff": 0.1,
            "outbound_allow": "127.0.0.1"}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as client:
        yield client


async def rule_of(stack: Stack, kind: str, **changes: Any) -> dict[str, Any]:
    """The default rule of ``kind`` (the migration made it), changed."""
    rules = (await stack.central.reads.alerts.rules(Page(1, 100)))["items"]
    rule = next(r for r in rules if r["kind"] == kind)
    return await stack.central.alerts.update_rule(rule["id"], changes) if changes else rule


async def evaluated(evaluate: Callable[[], Awaitable[Outcome]], done: Callable[[Outcome], bool],
                    timeout: float = 10.0) -> Outcome:
    """Evaluate until one evaluation's outcome is ``done`` (the server notices a closed socket,
    and the store its writes, a moment after the test's own step)."""
    async with asyncio.timeout(timeout):
        while True:
            outcome = await evaluate()
            if done(outcome):
                return outcome
            await asyncio.sleep(0.05)


def kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["kind"], a["subject"]) for a in alerts)


async def stored(stack: Stack, open_only: bool = False) -> int:
    query = select(func.count()).select_from(ALERTS)
    async with stack.central.engine.connect() as conn:
        return int((await conn.execute(query.where(ALERTS.c.cleared_at.is_(None)) if open_only else query))
                   .scalar_one())


def status(connector: int, state: str, error_code: str = "NoError") -> Any:
    return call.StatusNotification(connector_id=connector, status=state, error_code=error_code)


async def test_a_fault_opens_one_alert_announced_by_webhook_and_email_and_clears_when_it_ends(
        stack: Stack, http: httpx.AsyncClient, smtp: SmtpSink) -> None:
    evaluate = stack.central.alert_evaluator.evaluate
    await rule_of(stack, "faulted", emails=[OPS])
    async with HookReceiver() as hook, connect(stack.ws_url, "AL-1") as cp:
        made = await create_webhook(http, hook.url, ["alert.*"])
        await cp.call(BOOT)
        await cp.call(status(1, "Faulted", "GroundFailure"))
        opened = (await evaluated(evaluate, lambda o: bool(o.opened))).opened
        assert kinds(opened) == [("faulted", "AL-1/1")]
        alert = opened[0]
        assert (alert["state"], alert["detail"], alert["connector_id"]) == ("open", "GroundFailure", 1)
        assert alert["title"] == "AL-1 connector 1 is Faulted (GroundFailure)"
        # the condition goes on: no second alert, however often it is evaluated
        for _ in range(3):
            assert await evaluate() == Outcome()
        assert await stored(stack) == 1
        await cp.call(status(1, "Available"))
        cleared = (await evaluated(evaluate, lambda o: bool(o.cleared))).cleared
        assert [(a["id"], a["state"]) for a in cleared] == [(alert["id"], "cleared")]
        posts = await waiting(lambda: len(hook.posts) >= 2 and hook.posts)
    events = [p.body["event"] for p in posts]
    assert [e["type"] for e in events] == ["alert.opened", "alert.cleared"]
    assert events[0]["charge_point_id"] == "AL-1" and events[0]["alert"]["id"] == alert["id"]
    assert events[1]["alert"]["cleared_at"] is not None
    assert all(p.signed_with("a-test-secret-0123456789") for p in posts)
    assert made["events"] == ["alert.*"]
    mails = await waiting(lambda: len(smtp.mails) >= 2 and smtp.mails)
    assert smtp.refused == 1  # the first attempt was refused, the retry went through
    assert [m.subject for m in mails] == ["[chargebay] Alert: AL-1 connector 1 is Faulted (GroundFailure)",
                                          "[chargebay] Cleared: AL-1 connector 1 is Faulted (GroundFailure)"]
    assert all(m.recipients == [OPS] and m.sender == "alerts@chargebay.test" for m in mails)
    assert f"POST /api/v1/alerts/{alert['id']}/acknowledge" in mails[0].body
    assert "Detail:   GroundFailure" in mails[0].body


async def test_offline_waits_its_minutes_and_no_node_or_restart_opens_a_twin(stack: Stack) -> None:
    central = stack.central
    await central.charge_points.create("AL-REJ", "Rejected", None)
    async with connect(stack.ws_url, "AL-2") as cp:
        await cp.call(BOOT)
    async with connect(stack.ws_url, "AL-REJ") as rejected:
        assert (await rejected.call(BOOT)).status == "Rejected"
    # both are offline now, but the default rule waits ten minutes: only the rejected boot opens
    first = await evaluated(central.alert_evaluator.evaluate, lambda o: bool(o.opened))
    assert kinds(first.opened) == [("boot_rejected", "AL-REJ")]
    await rule_of(stack, "offline", minutes=0)
    # a second node (its own engine, writer and evaluator over the same store) and this one
    # evaluate at the same time: each alert is opened by exactly one of them
    engine = create_engine(central.settings.database_url)
    writer = Writer(engine)
    writer.start()
    other = AlertEvaluator(engine, writer, NetworkQueries(engine, 1.0), EventBus(),
                           Mailer(None, Retry()), lambda now: {})
    try:
        both = await asyncio.gather(central.alert_evaluator.evaluate(), other.evaluate())
        assert kinds([a for o in both for a in o.opened]) == [("offline", "AL-2"), ("offline", "AL-REJ")]
        assert await other.evaluate() == Outcome()
    finally:
        await writer.close()
        await engine.dispose()
    # a restart: a new evaluator knows nothing in memory, the store says what is open
    restarted = AlertEvaluator(central.engine, central.writer, central.reads.network, central.events,
                               central.mailer, lambda now: {})
    assert await restarted.evaluate() == Outcome()
    assert await stored(stack, open_only=True) == 3
    # back online: its offline alert clears; the rejected one is offline still
    async with connect(stack.ws_url, "AL-2") as cp:
        await cp.call(BOOT)
        cleared = await evaluated(central.alert_evaluator.evaluate, lambda o: bool(o.cleared))
        assert kinds(cleared.cleared) == [("offline", "AL-2")]


async def test_a_silent_session_opens_a_stuck_alert_and_a_meter_value_clears_it(stack: Stack) -> None:
    evaluate = stack.central.alert_evaluator.evaluate
    async with connect(stack.ws_url, "AL-3") as cp:
        await cp.call(BOOT)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="AL-TAG", meter_start=0,
                                                      timestamp=datetime.now(UTC).isoformat()))
        # CHARGEBAY_STUCK_TRANSACTION_AFTER is 1 s here
        opened = (await evaluated(evaluate, lambda o: bool(o.opened))).opened
        assert kinds(opened) == [("stuck_transaction", f"AL-3/tx/{started.transaction_id}")]
        assert opened[0]["transaction_id"] == started.transaction_id and opened[0]["detail"] == "AL-TAG"
        await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
            {"timestamp": datetime.now(UTC).isoformat(),
             "sampledValue": [{"value": "10", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        cleared = await evaluated(evaluate, lambda o: bool(o.cleared))
        assert [a["id"] for a in cleared.cleared] == [opened[0]["id"]]


async def test_a_disabled_rule_clears_its_alerts_and_a_deleted_one_leaves_them_listed(stack: Stack) -> None:
    central = stack.central
    faulted = await rule_of(stack, "faulted")
    async with connect(stack.ws_url, "AL-4") as cp:
        await cp.call(BOOT)
        await cp.call(status(2, "Faulted", "OverVoltage"))
        opened = (await evaluated(central.alert_evaluator.evaluate, lambda o: bool(o.opened))).opened
        await central.alerts.update_rule(faulted["id"], {"enabled": False})
        assert [a["id"] for a in (await central.alert_evaluator.evaluate()).cleared] == [opened[0]["id"]]
        await central.alerts.update_rule(faulted["id"], {"enabled": True})
        again = (await central.alert_evaluator.evaluate()).opened  # a new alert: the old one is history
        assert kinds(again) == [("faulted", "AL-4/2")] and again[0]["id"] != opened[0]["id"]
        await central.alerts.delete_rule(faulted["id"])
        assert [a["id"] for a in (await central.alert_evaluator.evaluate()).cleared] == [again[0]["id"]]
    listed = await central.reads.alerts.page_of(Page(1, 10), "cleared")
    assert [a["id"] for a in listed["items"]] == [again[0]["id"], opened[0]["id"]]


async def test_a_load_group_drawing_over_its_limit_opens_an_alert(stack: Stack, http: httpx.AsyncClient) -> None:
    from tests.api.resources import ADMIN

    central = stack.central
    await central.alerts.create_rule({"kind": "load_over_limit", "minutes": 0, "enabled": True, "emails": []})
    r = await http.post("/api/v1/load-groups", headers=ADMIN, json={
        "name": "AL-FEEDER", "limit": 2000, "unit": "W", "members": [{"kind": "charge_point",
                                                                       "charge_point_id": "AL-5", "rating": 32}]})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    async with connect(stack.ws_url, "AL-5") as cp:
        await cp.call(BOOT)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="AL-TAG", meter_start=0,
                                                      timestamp=datetime.now(UTC).isoformat()))

        async def draw(kw: float) -> None:
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
                {"timestamp": datetime.now(UTC).isoformat(), "sampledValue": [
                    {"value": str(kw), "measurand": "Power.Active.Import", "unit": "kW"}]}]))

        await draw(7.4)  # the charge point takes more than the group's 2 kW
        opened = (await evaluated(central.alert_evaluator.evaluate,
                                  lambda o: any(a["kind"] == "load_over_limit" for a in o.opened))).opened
        [alert] = [a for a in opened if a["kind"] == "load_over_limit"]
        assert (alert["subject"], alert["load_group_id"]) == (f"group/{group_id}", group_id)
        assert alert["title"] == "load group AL-FEEDER draws 7.4 kW of 2.0 kW"
        await draw(1.5)
        cleared = await evaluated(central.alert_evaluator.evaluate,
                                  lambda o: any(a["kind"] == "load_over_limit" for a in o.cleared))
        assert [a["id"] for a in cleared.cleared if a["kind"] == "load_over_limit"] == [alert["id"]]


async def test_a_mail_server_that_is_down_costs_log_lines_never_the_evaluation(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    async with SmtpSink() as gone:
        dead_port = gone.port  # nothing listens there once closed
    central = stack.central
    mailer = Mailer(Smtp("127.0.0.1", dead_port, starttls=False, timeout=2.0), Retry(attempts=2, backoff=0.05))
    mailer.start()
    evaluator = AlertEvaluator(central.engine, central.writer, central.reads.network, central.events, mailer,
                               lambda now: {})
    await rule_of(stack, "boot_rejected", emails=[OPS])
    await central.charge_points.create("AL-DOWN", "Rejected", None)
    try:
        with caplog.at_level(logging.WARNING, logger="csms.alerts.mailer"):
            async with connect(stack.ws_url, "AL-DOWN") as cp:
                await cp.call(BOOT)
            outcome = await evaluated(evaluator.evaluate, lambda o: bool(o.opened))
            assert kinds(outcome.opened) == [("boot_rejected", "AL-DOWN")]
            await asyncio.wait_for(mailer.idle(), 10)
        assert (mailer.sent, mailer.failed) == (0, 1)
        failures = [r.getMessage() for r in caplog.records if r.name == "csms.alerts.mailer"]
        assert any("attempt 1 of 2 failed" in line for line in failures)
        assert any("not sent after 2 attempts" in line for line in failures)
        assert await evaluator.evaluate() == Outcome()  # and the evaluation goes on as ever
    finally:
        await mailer.close()


async def test_a_charge_points_words_cannot_add_mail_headers() -> None:
    """A fault's text comes from the charge point: a line break in it stays in the subject's line."""
    async with SmtpSink() as sink:
        mailer = Mailer(Smtp("127.0.0.1", sink.port, starttls=False), Retry(attempts=1))
        mailer.start()
        try:
            mailer.send([OPS], "[chargebay] Alert: CP-X connector 1 is Faulted (x\r\nBcc: thief@example.com)", "body\n")
            await asyncio.wait_for(mailer.idle(), 10)
        finally:
            await mailer.close()
    [mail] = sink.mails
    assert mail.recipients == [OPS] and mail.message["Bcc"] is None
    assert mail.subject == "[chargebay] Alert: CP-X connector 1 is Faulted (x Bcc: thief@example.com)"
