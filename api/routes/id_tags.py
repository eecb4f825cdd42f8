"""Id tags (RFID cards, app tokens) used by Authorize and StartTransaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from api.auth import require
from api.deps import Page, central, jsonable, page_params, paginate
from api.errors import ApiError
from api.gate import GuardedRoute
from csms.central import CentralSystem
from csms.store.models import IdTag
from csms.timeutil import now_utc, utc

router = APIRouter(prefix="/api/v1/id-tags", tags=["id-tags"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
write = Depends(require("operator"))
_TAGS = IdTag.__table__

TagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class IdTagCreate(BaseModel):
    id_tag: str = Field(min_length=1, max_length=20)
    status: TagStatus = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, max_length=20)
    max_concurrent_tx: int | None = Field(None, ge=1, description="Running transactions allowed at once (default 1).")

    model_config = {"json_schema_extra": {"examples": [
        {"id_tag": "TAG-1", "status": "Accepted", "expiry_date": None, "parent_id_tag": None}]}}


class IdTagUpdate(BaseModel):
    status: TagStatus | None = None
    expiry_date: datetime | None = None
    parent_id_tag: str | None = Field(None, max_length=20)
    max_concurrent_tx: int | None = Field(None, ge=1)

    model_config = {"json_schema_extra": {"examples": [{"status": "Blocked"},
                                                       {"expiry_date": "2027-01-01T00:00:00Z"}]}}


def _not_found(id_tag: str) -> ApiError:
    return ApiError(404, "IdTagNotFound", f"no id tag {id_tag!r}")


@router.get("", summary="List id tags", dependencies=[read])
async def list_id_tags(page: Page = Depends(page_params), status: TagStatus | None = None,
                       q: str | None = None, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    query = select(_TAGS).order_by(_TAGS.c.id_tag)
    if status:
        query = query.where(_TAGS.c.status == status)
    if q:
        query = query.where(or_(_TAGS.c.id_tag.ilike(f"%{q}%"), _TAGS.c.parent_id_tag.ilike(f"%{q}%")))
    return await paginate(cs.engine, query, page)


async def _get(cs: CentralSystem, id_tag: str) -> dict[str, Any]:
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(_TAGS).where(_TAGS.c.id_tag == id_tag))).first()
    if row is None:
        raise _not_found(id_tag)
    return jsonable(row)


@router.post("", status_code=201, summary="Create an id tag", dependencies=[write])
async def create_id_tag(body: IdTagCreate, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    values = body.model_dump()
    values["expiry_date"] = utc(body.expiry_date)
    try:
        async with cs.engine.begin() as conn:
            await conn.execute(_TAGS.insert().values(**values, created_at=now_utc()))
    except IntegrityError:
        raise ApiError(409, "IdTagExists", f"id tag {body.id_tag!r} already exists") from None
    return await _get(cs, body.id_tag)


@router.get("/{id_tag}", summary="One id tag", dependencies=[read])
async def get_id_tag(id_tag: str, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    return await _get(cs, id_tag)


@router.patch("/{id_tag}", summary="Change an id tag", dependencies=[write])
async def update_id_tag(id_tag: str, body: IdTagUpdate, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    if "expiry_date" in values:
        values["expiry_date"] = utc(values["expiry_date"])
    if values:
        async with cs.engine.begin() as conn:
            result = await conn.execute(update(_TAGS).where(_TAGS.c.id_tag == id_tag).values(values))
        if not result.rowcount:
            raise _not_found(id_tag)
    return await _get(cs, id_tag)


@router.delete("/{id_tag}", status_code=204, summary="Delete an id tag", dependencies=[write])
async def delete_id_tag(id_tag: str, cs: CentralSystem = Depends(central)) -> Response:
    async with cs.engine.begin() as conn:
        result = await conn.execute(delete(_TAGS).where(_TAGS.c.id_tag == id_tag))
    if not result.rowcount:
        raise _not_found(id_tag)
    return Response(status_code=204)
