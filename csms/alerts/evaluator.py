"""One evaluation of the alert rules: open what started, clear what ended, tell the world.

The conditions are not written again here: charge points offline, connectors Faulted, boots
rejected and stuck sessions are the network's problems list (:meth:`NetworkQueries.every_problem`,
what the dashboard shows), and a load group over its limit is what the load manager measures
(:func:`groups_over_limit`, the Load page's draw against its limit). A rule's ``minutes`` is how
long a condition must have lasted before it opens an alert; an open alert clears only once the
condition is gone, whatever its age (a restart, which forgets when a group went over its limit,
does not clear and reopen it).

Once per rule and subject, whoever evaluates: an alert is inserted with its ``open_key`` unique
and ``ON CONFLICT DO NOTHING``, and cleared by an UPDATE of the rows still open, so only the
evaluation whose write landed publishes the event (``alert.opened``, ``alert.cleared``: the
webhooks deliver it, :mod:`csms.webhooks`) and queues the rule's e-mail. Two nodes, or a node
that restarted, never announce an alert twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.alerts.mailer import Mailer
from csms.alerts.shapes import ALERTS, CLEARED, OPENED, RULES
from csms.energy.manager import LoadManager
from csms.energy.state import limits_at
from csms.events import EventBus
from csms.queries.alerts import alert_view
from csms.queries.network import PROBLEM_KINDS, NetworkQueries
from csms.store.writer import Writer
from csms.timeutil import now_utc

log = logging.getLogger(__name__)
CHUNK = 500  # rows of one INSERT or UPDATE
OVER_BY_W = 1.0  # a draw this far past the limit is over it (rounding of reported powers)


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition holding on one subject now."""

    kind: str
    subject: str
    since: datetime | None
    charge_point_id: str | None = None
    connector_id: int | None = None
    transaction_id: int | None = None
    load_group_id: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    kind: str
    minutes: int
    enabled: bool
    emails: tuple[str, ...]


@dataclass(slots=True)
class Outcome:
    """What one evaluation changed (each alert as :func:`alert_view` shows it)."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    cleared: list[dict[str, Any]] = field(default_factory=list)


def subject_of(problem: dict[str, Any]) -> str:
    """The thing a problem is about, as an alert names it: a charge point, a connector, a session."""
    cp, kind = problem["charge_point_id"], problem["kind"]
    if kind == "faulted":
        return f"{cp}/{problem['connector_id']}"
    if kind == "stuck_transaction":
        return f"{cp}/tx/{problem['transaction_id']}"
    return str(cp)


def groups_over_limit(manager: LoadManager, now: datetime) -> dict[int, tuple[str, float, float]]:
    """Load groups whose sessions draw more than the limit in force: id -> (name, draw, limit) in W.
    Only what this node's load manager measures (load management is single-node)."""
    layout = manager.layout
    limits = limits_at(layout, now)
    return {gid: (layout.groups[gid].name, draw, limits[str(gid)]) for gid, draw in manager.draws().items()
            if gid in layout.groups and draw > limits[str(gid)] + OVER_BY_W}


class AlertEvaluator:
    def __init__(self, engine: AsyncEngine, writer: Writer, network: NetworkQueries, events: EventBus,
                 mailer: Mailer, loads: Callable[[datetime], dict[int, tuple[str, float, float]]]) -> None:
        self._engine = engine  # reads
        self._writer = writer
        self._network = network
        self._events = events
        self._mailer = mailer
        self._loads = loads
        self._over_since: dict[int, datetime] = {}  # load group -> first evaluation that saw it over
        self.runs = 0

    async def run(self) -> None:
        """The scheduled job: one evaluation, any failure logged (the next one tries again)."""
        try:
            await self.evaluate()
        except Exception:
            log.exception("alert evaluation failed; the next one runs as scheduled")

    async def evaluate(self) -> Outcome:
        """Evaluate every rule once: open the alerts whose condition lasted the rule's minutes,
        clear those whose condition ended (or whose rule is gone or disabled); publish and e-mail
        what changed here."""
        now = now_utc()
        await self._writer.flush()  # the problems read what the handlers wrote up to now
        rules = await self._rules()
        enabled = [r for r in rules.values() if r.enabled]
        holding = await self._findings({r.kind for r in enabled}, now)
        holds: set[str] = set()
        wanted: dict[str, dict[str, Any]] = {}
        for rule in enabled:
            due = now - timedelta(minutes=rule.minutes)
            for found in holding.get(rule.kind, ()):
                key = f"{rule.id}:{found.subject}"
                holds.add(key)
                if found.since is None or found.since <= due:
                    wanted[key] = _row(rule, found, key, now)
        async with self._engine.connect() as conn:
            open_now = {r.open_key: r.id for r in await conn.execute(
                select(ALERTS.c.open_key, ALERTS.c.id).where(ALERTS.c.cleared_at.is_(None)))}
        ending = [alert_id for key, alert_id in open_now.items() if key not in holds]
        starting = [row for key, row in wanted.items() if key not in open_now]
        outcome = Outcome()
        if ending or starting:
            opened, cleared = await self._writer.run(lambda conn: _write(conn, self._writer, starting, ending, now))
            outcome = Outcome([alert_view(r) for r in opened], [alert_view(r) for r in cleared])
        self.runs += 1
        for alert in outcome.opened:
            self._announce(OPENED, alert, rules.get(alert["rule_id"]))
        for alert in outcome.cleared:
            self._announce(CLEARED, alert, rules.get(alert["rule_id"]))
        return outcome

    async def _rules(self) -> dict[int, Rule]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(RULES.c.id, RULES.c.kind, RULES.c.minutes, RULES.c.enabled,
                                              RULES.c.emails))).all()
        return {r.id: Rule(r.id, r.kind, r.minutes, r.enabled, tuple(orjson.loads(r.emails))) for r in rows}

    async def _findings(self, kinds: set[str], now: datetime) -> dict[str, list[Finding]]:
        """The conditions holding now, by kind, for the kinds some enabled rule watches."""
        found: dict[str, list[Finding]] = {}
        for p in await self._network.every_problem([k for k in PROBLEM_KINDS if k in kinds]):
            found.setdefault(p["kind"], []).append(Finding(
                p["kind"], subject_of(p), p["since"], p["charge_point_id"], p["connector_id"],
                p["transaction_id"], detail=p["detail"]))
        over = self._loads(now) if "load_over_limit" in kinds else {}
        self._over_since = {gid: self._over_since.get(gid, now) for gid in over}
        found["load_over_limit"] = [
            Finding("load_over_limit", f"group/{gid}", self._over_since[gid], load_group_id=gid,
                    detail=f"{name} draws {draw / 1000:.1f} kW of {limit / 1000:.1f} kW")
            for gid, (name, draw, limit) in over.items()]
        return found

    def _announce(self, kind: str, alert: dict[str, Any], rule: Rule | None) -> None:
        """The event (to the event stream and the webhooks) and the rule's e-mail."""
        self._events.publish(kind, alert["charge_point_id"], alert=alert)
        log.log(logging.WARNING if kind == OPENED else logging.INFO, "%s %d: %s", kind, alert["id"], alert["title"])
        if rule is not None and rule.emails:
            self._mailer.send(list(rule.emails), *message(kind, alert))


def message(kind: str, alert: dict[str, Any]) -> tuple[str, str]:
    """An e-mail's subject and body for an alert that opened or cleared."""
    word = "Alert" if kind == OPENED else "Cleared"
    lines = [f"{word}: {alert['title']}", "",
             f"Alert {alert['id']} ({alert['kind']}, rule {alert['rule_id']})",
             f"Subject:  {alert['subject']}",
             f"Since:    {alert['since'] or 'unknown'}",
             f"Opened:   {alert['opened_at']}"]
    if alert["cleared_at"]:
        lines.append(f"Cleared:  {alert['cleared_at']}")
    if alert["detail"]:
        lines.append(f"Detail:   {alert['detail']}")
    if kind == OPENED:
        lines += ["", "Acknowledge it on the dashboard's Alerts page, or with "
                      f"POST /api/v1/alerts/{alert['id']}/acknowledge."]
    return f"[chargebay] {word}: {alert['title']}", "\n".join(lines) + "\n"


def _row(rule: Rule, found: Finding, key: str, now: datetime) -> dict[str, Any]:
    return {"rule_id": rule.id, "kind": rule.kind, "subject": found.subject[:120],
            "charge_point_id": found.charge_point_id, "connector_id": found.connector_id,
            "transaction_id": found.transaction_id, "load_group_id": found.load_group_id,
            "detail": found.detail, "since": found.since, "opened_at": now, "open_key": key[:200]}


async def _write(conn: AsyncConnection, writer: Writer, starting: Sequence[dict[str, Any]],
                 ending: Sequence[int], now: datetime) -> tuple[list[Any], list[Any]]:
    """Insert the new alerts (a twin another evaluation opened first is skipped) and clear the
    ended ones still open; the rows this call changed."""
    opened: list[Any] = []
    for at in range(0, len(starting), CHUNK):
        stmt = (writer.dialect_insert(ALERTS).values(list(starting[at:at + CHUNK]))
                .on_conflict_do_nothing(index_elements=["open_key"]).returning(*ALERTS.c))
        opened += (await conn.execute(stmt)).all()
    cleared: list[Any] = []
    for at in range(0, len(ending), CHUNK):
        clear = (update(ALERTS).where(ALERTS.c.id.in_(ending[at:at + CHUNK]), ALERTS.c.cleared_at.is_(None))
                 .values(cleared_at=now, open_key=None).returning(*ALERTS.c))
        cleared += (await conn.execute(clear)).all()
    return opened, cleared

