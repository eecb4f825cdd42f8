"""Charge point administration (grows with the [api] issue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import require
from api.errors import ApiError

router = APIRouter(prefix="/api/v1/charge-points", tags=["charge-points"])


@router.post("/{charge_point_id}/accept", summary="Accept a Pending charge point",
             dependencies=[Depends(require("operator"))])
async def accept(charge_point_id: str, request: Request) -> dict[str, Any]:
    """Its next BootNotification is answered Accepted."""
    if not await request.app.state.central.set_registration(charge_point_id, "Accepted"):
        raise ApiError(404, "ChargePointNotFound", f"no charge point {charge_point_id!r}")
    return {"id": charge_point_id, "registration_status": "Accepted"}
