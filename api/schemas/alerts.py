"""Bodies of alerts and alert rules (csms.alerts): an alert as its reads, events and e-mails show
it; a rule as an admin writes it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Timestamp
from csms.alerts.shapes import MAX_EMAILS, AlertKind, AlertState
from csms.services.alerts import NOTE_CHARS

# a plain check (one @, a dot in the domain, no spaces): the SMTP server is the judge of the rest
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$", max_length=254)]
MINUTES = (
    "How long the condition must have lasted before an alert opens (0: at the next evaluation; at "
    "most a week). `offline`: minutes since the charge point was last heard; `faulted`: since the "
    "Faulted status; `boot_rejected`: since the boot; `stuck_transaction`: counted from its last "
    "meter value, after CHARGEBAY_STUCK_TRANSACTION_AFTER has made it stuck; `load_over_limit`: "
    "since the evaluation that first saw the group's draw over its limit.")
EMAILS = (
    "Who gets an e-mail when an alert of this rule opens and when it clears (through "
    "CHARGEBAY_SMTP_HOST; empty: webhooks and the dashboard only).")
WEEK = 10_080  # minutes


class AlertOut(BaseModel):
    """One alert: a rule's condition on one subject, from its opening to its clearing."""

    id: int
    rule_id: int = Field(description="The rule that opened it (it may have been deleted since).")
    kind: AlertKind
    state: AlertState = Field(description=(
        "open: the condition holds and nobody acknowledged it; acknowledged: someone did, the "
        "condition still holds; cleared: the condition ended (acknowledged or not)."))
    title: str = Field(description="What it is about, in one line for a person (an e-mail's subject).")
    subject: str = Field(description="What it is about: a charge point (`CP-1`), a connector (`CP-1/2`), a "
                                     "transaction (`CP-1/tx/7`), a load group (`group/3`). One open alert "
                                     "per rule and subject.")
    charge_point_id: str | None
    connector_id: int | None
    transaction_id: int | None
    load_group_id: int | None
    detail: str | None = Field(description="A fault's error code, a stuck session's id tag, a load group's "
                                           "draw against its limit when the alert opened.")
    since: Timestamp | None = Field(description="When the condition began, as far as known.")
    opened_at: Timestamp
    cleared_at: Timestamp | None
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None = Field(description="The token (name and id, and its user for a login's) "
                                                    "that acknowledged it.")
    note: str | None = Field(description="What the person who acknowledged it wrote.")


class AlertCounts(BaseModel):
    open: int = Field(description="Alerts whose condition holds and that nobody acknowledged yet.")
    acknowledged: int = Field(description="Alerts acknowledged whose condition still holds.")


class Acknowledge(BaseModel):
    note: str | None = Field(None, max_length=NOTE_CHARS, description="What is being done about it.")

    model_config = {"json_schema_extra": {"examples": [{"note": "Site electrician called, on the way"}]}}


class AlertRuleCreate(BaseModel):
    kind: AlertKind = Field(description=(
        "offline: a charge point seen once is not connected; faulted: a connector of an online "
        "charge point reports Faulted; boot_rejected: its last boot was Rejected; stuck_transaction: "
        "an open session sends no meter values; load_over_limit: a load group's sessions draw more "
        "than its limit in force."))
    minutes: int = Field(0, ge=0, le=WEEK, description=MINUTES)
    enabled: bool = True
    emails: list[Email] = Field(default_factory=list, max_length=MAX_EMAILS, description=EMAILS)

    model_config = {"json_schema_extra": {"examples": [
        {"kind": "offline", "minutes": 15, "enabled": True, "emails": ["noc@example.com"]}]}}


class AlertRuleUpdate(BaseModel):
    """The fields to change; those left out stay."""

    kind: AlertKind | None = None
    minutes: int | None = Field(None, ge=0, le=WEEK, description=MINUTES)
    enabled: bool | None = None
    emails: list[Email] | None = Field(None, max_length=MAX_EMAILS, description=EMAILS)

    model_config = {"json_schema_extra": {"examples": [{"minutes": 30, "emails": ["noc@example.com"]}]}}


class AlertRuleOut(BaseModel):
    id: int
    kind: AlertKind
    minutes: int
    enabled: bool
    emails: list[str]
    created_at: Timestamp
    updated_at: Timestamp
