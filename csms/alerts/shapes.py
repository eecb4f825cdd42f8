"""What the alerts' evaluation, service, reads and REST share: the kinds of rule, the states of an
alert, its one-line title (the REST answer, the event's ``alert`` and the e-mail say the same
words), the refusals. How a row reads is :func:`csms.queries.alerts.alert_view`."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, and_

from csms.services.errors import NotFound
from csms.store.alert_models import Alert, AlertRule
from csms.store.models import table

ALERTS = table(Alert)
RULES = table(AlertRule)

AlertKind = Literal["offline", "faulted", "boot_rejected", "stuck_transaction", "load_over_limit"]
KINDS: tuple[AlertKind, ...] = ("offline", "faulted", "boot_rejected", "stuck_transaction", "load_over_limit")
# open: the condition holds and nobody has acknowledged it yet (the count in the dashboard's top
# bar); acknowledged: someone is on it, the condition still holds; cleared: the condition ended
AlertState = Literal["open", "acknowledged", "cleared"]
STATES: tuple[AlertState, ...] = ("open", "acknowledged", "cleared")
OPENED, CLEARED, ACKNOWLEDGED = "alert.opened", "alert.cleared", "alert.acknowledged"  # event types
MAX_EMAILS = 20  # recipients of one rule


def in_state(state: AlertState) -> ColumnElement[bool]:
    """The rows of alerts in ``state``."""
    if state == "cleared":
        return ALERTS.c.cleared_at.is_not(None)
    acknowledged = ALERTS.c.acknowledged_at
    return and_(ALERTS.c.cleared_at.is_(None),
                acknowledged.is_not(None) if state == "acknowledged" else acknowledged.is_(None))


def state_of(alert: dict[str, Any]) -> AlertState:
    if alert.get("cleared_at"):
        return "cleared"
    return "acknowledged" if alert.get("acknowledged_at") else "open"


def title(alert: dict[str, Any]) -> str:
    """One line for a person: what the alert is about (an e-mail's subject, the dashboard's row)."""
    kind, cp, detail = alert["kind"], alert.get("charge_point_id"), alert.get("detail")
    if kind == "offline":
        return f"{cp} is offline"
    if kind == "faulted":
        return f"{cp} connector {alert.get('connector_id')} is Faulted" + (f" ({detail})" if detail else "")
    if kind == "boot_rejected":
        return f"{cp}'s boot was rejected"
    if kind == "stuck_transaction":
        return f"transaction {alert.get('transaction_id')} on {cp} sends no meter values"
    return f"load group {detail}" if detail else f"load group {alert.get('load_group_id')} is over its limit"


def alert_not_found(alert_id: int) -> NotFound:
    return NotFound("AlertNotFound", f"no alert {alert_id}")


def rule_not_found(rule_id: int) -> NotFound:
    return NotFound("AlertRuleNotFound", f"no alert rule {rule_id}")
