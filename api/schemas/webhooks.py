"""Webhook bodies: the secret only in the answer that created the webhook."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Timestamp

# an event type (lock.forced_open), every type under a prefix (lock.*), or every event (*)
EventPattern = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$",
                                                max_length=64)]


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description=(
        "http or https URL the events are POSTed to. Like a command's callback_url it must reach "
        "a public address (422 `AddressNotAllowed` otherwise, unless CHARGEBAY_OUTBOUND_ALLOW "
        "names it; `InvalidUrl` for one that is no http(s) URL); checked again at every attempt."))
    events: list[EventPattern] = Field(min_length=1, max_length=50, description=(
        "Which events: types as on GET /api/v1/events (`lock.forced_open`, `status`, ...), "
        "`lock.*` for every type under a prefix, `*` for all."))
    secret: str | None = Field(None, min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$", description=(
        "Key of the HMAC-SHA256 signature of each delivery (X-Chargebay-Signature): 16-200 "
        "printable ASCII characters, no spaces; left out: a random one. Shown in this answer only."))

    model_config = {"json_schema_extra": {"examples": [{
        "url": "https://93.184.215.14/chargebay/hooks", "events": ["lock.forced_open", "lock.offline"],
        "secret": "whsec-change-me-0123456789"}]}}


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: Timestamp
    created_by: str = Field(description="The token (name and id) that created it.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret: shown here once, never again.")


class DeliveryOut(BaseModel):
    """One attempt to deliver one event (or an event dropped before any attempt)."""

    id: int
    delivery_id: str = Field(description="The delivery's id, the same in each of its attempts "
                             "(the body's `id` and X-Chargebay-Delivery).")
    event_type: str
    event: dict[str, Any] = Field(description="The event as the receiver got it (`event` of the body).")
    attempt: int = Field(description="From 1; 0 for a delivery dropped before its first attempt.")
    status: Literal["delivered", "failed", "refused", "dropped"] = Field(description=(
        "delivered: the receiver answered 2xx; failed: another status, no answer in time or no "
        "connection; refused: the outbound guard refused the URL's address at this attempt; "
        "dropped: too many deliveries were waiting for this receiver."))
    status_code: int | None = Field(description="The receiver's HTTP status, when it answered.")
    error: str | None
    duration_ms: int | None
    at: Timestamp
