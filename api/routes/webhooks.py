"""Webhooks as a resource: a URL, an event filter and a secret; every event of the live stream
(``GET /api/v1/events``) the filter takes is POSTed there, signed, retried with backoff, and
each attempt is in the webhook's delivery log (:mod:`csms.webhooks` says how). Managed and read
by operators (admin always): a webhook's URL and its log are an integration's plumbing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Caller, require
from api.deps import Paging, Queries, Webhooks
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.webhooks import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=GuardedRoute)
Operator = Annotated[Caller, Depends(require("operator"))]
operator = Depends(require("operator"))
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The webhook's id.")]
NOT_FOUND = {404: "`WebhookNotFound`"}


@router.post("", status_code=201, summary="Register a webhook; the answer holds its secret, once",
             response_model=WebhookCreated,
             responses=declare({409: "`TooManyWebhooks`", 422: "`InvalidUrl`, `AddressNotAllowed` "
                                "(with `field`: `url`)"}))
async def create_webhook(body: WebhookCreate, caller: Operator, service: Webhooks,
                         reads: Queries) -> dict[str, Any]:
    """Each delivery is a POST of ``{"id", "webhook_id", "attempt", "sent_at", "event"}`` with
    ``X-Chargebay-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body under the secret
    (compare it in constant time; reject a ``sent_at`` older than a few minutes: a replay).
    A 2xx answer is delivered; anything else is retried with exponential backoff."""
    webhook_id, secret = await service.create(body.url, body.events, body.secret, caller.who)
    return {**await reads.webhooks.get(webhook_id), "secret": secret}


@router.get("", summary="List webhooks (secrets are never shown again)", dependencies=[operator],
            response_model=Paged[WebhookOut], responses=declare({}))
async def list_webhooks(page: Paging, reads: Queries) -> dict[str, Any]:
    return await reads.webhooks.page_of(page)


@router.get("/{webhook_id}", summary="One webhook", dependencies=[operator], response_model=WebhookOut,
            responses=declare(NOT_FOUND))
async def get_webhook(webhook_id: WebhookId, reads: Queries) -> dict[str, Any]:
    return await reads.webhooks.get(webhook_id)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its delivery log",
               dependencies=[operator], response_class=Response, responses=declare(NOT_FOUND))
async def delete_webhook(webhook_id: WebhookId, service: Webhooks) -> Response:
    """What still waits for it is not delivered."""
    await service.delete(webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", summary="A webhook's delivery log, newest attempt first",
            dependencies=[operator], response_model=Paged[DeliveryOut], responses=declare(NOT_FOUND))
async def list_webhook_deliveries(
        webhook_id: WebhookId, page: Paging, reads: Queries,
        status: Annotated[Literal["delivered", "failed", "refused", "dropped"] | None,
                          Query(description="Only attempts that ended so.")] = None) -> dict[str, Any]:
    """Every attempt of every delivery: the event, the attempt's number, the receiver's HTTP
    status or why it failed, how long it took, when (the newest 1,000 rows are kept)."""
    return await reads.webhooks.deliveries(webhook_id, page, status)
