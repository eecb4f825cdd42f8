"""Alerts and their rules (issue #21). The central system opens an alert once per rule and subject
while the rule's condition holds and clears it when it ends (csms.alerts); people read them (any
staff role), acknowledge them (operators, with a note: kept on the alert and in the audit log),
and admins keep the rules. Every alert opened, cleared or acknowledged is an event of the stream
(``alert.opened``, ``alert.cleared``, ``alert.acknowledged``), so a webhook filtering ``alert.*``
receives them all."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Caller, require
from api.deps import Alerts, Paging, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.alerts import Acknowledge, AlertCounts, AlertOut, AlertRuleCreate, AlertRuleOut, AlertRuleUpdate
from api.vendor.sites import actor, site_service
from csms.alerts.shapes import AlertState
from lockers.service import SiteService

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
admin = Depends(require("admin"))
Operator = Annotated[Caller, Depends(require("operator"))]
Admin = Annotated[Caller, admin]
Sites = Annotated[SiteService, Depends(site_service)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's id.")]
RuleId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The rule's id.")]
ALERT_NOT_FOUND = {404: "`AlertNotFound`"}
RULE_NOT_FOUND = {404: "`AlertRuleNotFound`"}


async def audit(sites: Sites, caller: Caller, action: str, **details: Any) -> None:
    """The audit log's entry for a change (written after it: a failed entry is logged, the change
    stands and the alert itself keeps who acknowledged it)."""
    try:
        await sites.record(actor(caller), action, None, by=caller.who, **details)
    except Exception:
        log.exception("audit of %s failed", action)


@router.get("/api/v1/alerts", summary="List alerts, newest first", dependencies=[read],
            response_model=Paged[AlertOut], responses=declare({}))
async def list_alerts(page: Paging, reads: Queries,
                      state: Annotated[AlertState | None, Query(description="Only alerts in this state.")] = None,
                      charge_point_id: Annotated[str | None, Query(max_length=48, description=(
                          "Only the alerts about this charge point."))] = None) -> dict[str, Any]:
    return await reads.alerts.page_of(page, state, charge_point_id)


@router.get("/api/v1/alerts/counts", summary="How many alerts are open and acknowledged", dependencies=[read],
            response_model=AlertCounts, responses=declare({}))
async def count_alerts(reads: Queries) -> dict[str, int]:
    """One small read: the dashboard's top bar polls it on every page."""
    return await reads.alerts.counts()


@router.get("/api/v1/alerts/{alert_id}", summary="One alert", dependencies=[read], response_model=AlertOut,
            responses=declare(ALERT_NOT_FOUND))
async def get_alert(alert_id: AlertId, reads: Queries) -> dict[str, Any]:
    return await reads.alerts.get(alert_id)


@router.post("/api/v1/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert, with a note",
             response_model=AlertOut, responses=declare({
                 **ALERT_NOT_FOUND, 409: "`AlertAlreadyAcknowledged` (with `acknowledged_by`, `acknowledged_at`)"}))
async def acknowledge_alert(alert_id: AlertId, body: Acknowledge, caller: Operator, service: Alerts,
                            sites: Sites) -> dict[str, Any]:
    """Who and when are kept on the alert, with the note, and written to the audit log
    (`alert.acknowledged`); the event `alert.acknowledged` goes to the stream and the webhooks.
    An open or a cleared alert may be acknowledged, once; the body may be `{}`."""
    alert = await service.acknowledge(alert_id, caller.who, body.note)
    await audit(sites, caller, "alert.acknowledged", alert_id=alert_id, kind=alert["kind"],
                subject=alert["subject"], note=body.note)
    return alert


@router.get("/api/v1/alert-rules", summary="List alert rules", dependencies=[admin],
            response_model=Paged[AlertRuleOut], responses=declare({}))
async def list_alert_rules(page: Paging, reads: Queries) -> dict[str, Any]:
    return await reads.alerts.rules(page)


@router.post("/api/v1/alert-rules", status_code=201, summary="Create an alert rule", response_model=AlertRuleOut,
             responses=declare({409: "`TooManyAlertRules` (100 at most)"}))
async def create_alert_rule(body: AlertRuleCreate, caller: Admin, service: Alerts, sites: Sites) -> dict[str, Any]:
    """Evaluated from the next evaluation on (every CHARGEBAY_ALERT_INTERVAL seconds)."""
    rule = await service.create_rule(body.model_dump())
    await audit(sites, caller, "alert_rule.add", rule_id=rule["id"], **body.model_dump())
    return rule


@router.get("/api/v1/alert-rules/{rule_id}", summary="One alert rule", dependencies=[admin],
            response_model=AlertRuleOut, responses=declare(RULE_NOT_FOUND))
async def get_alert_rule(rule_id: RuleId, reads: Queries) -> dict[str, Any]:
    return await reads.alerts.rule(rule_id)


@router.patch("/api/v1/alert-rules/{rule_id}", summary="Change an alert rule", response_model=AlertRuleOut,
              responses=declare(RULE_NOT_FOUND))
async def update_alert_rule(rule_id: RuleId, body: AlertRuleUpdate, caller: Admin, service: Alerts,
                            sites: Sites) -> dict[str, Any]:
    """A rule disabled clears its open alerts at the next evaluation."""
    changes = body.model_dump(exclude_none=True)
    rule = await service.update_rule(rule_id, changes)
    await audit(sites, caller, "alert_rule.update", rule_id=rule_id, **changes)
    return rule


@router.delete("/api/v1/alert-rules/{rule_id}", status_code=204, summary="Delete an alert rule",
               response_class=Response, responses=declare(RULE_NOT_FOUND))
async def delete_alert_rule(rule_id: RuleId, caller: Admin, service: Alerts, sites: Sites) -> Response:
    """Its open alerts clear at the next evaluation; its alerts stay listed."""
    await service.delete_rule(rule_id)
    await audit(sites, caller, "alert_rule.delete", rule_id=rule_id)
    return Response(status_code=204)
