"""The four ways an outbound OCPP call can end, as the REST layer and other nodes see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Outcome:
    """Result of sending one CSMS-initiated action to a charge point.

    ``kind`` is ``result`` (``payload`` holds the charge point's answer), ``call_error``
    (``error_code``/``description``/``details``), ``timeout`` or ``offline``.
    """

    kind: Literal["result", "call_error", "timeout", "offline"]
    payload: dict[str, Any] | None = None
    error_code: str | None = None
    description: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "payload": self.payload, "error_code": self.error_code,
                "description": self.description, "details": self.details,
                "message_id": self.message_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(**data)
