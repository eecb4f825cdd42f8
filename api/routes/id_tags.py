"""Id tags (RFID cards, app tokens) used by Authorize and StartTransaction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from api.auth import require
from api.deps import IdTags, Paging, Queries
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.id_tags import IdTagCreate, IdTagOut, IdTagUpdate, TagStatus

router = APIRouter(prefix="/api/v1/id-tags", tags=["id-tags"], route_class=GuardedRoute)
read = Depends(require("operator", "integrator", "viewer"))
write = Depends(require("operator"))
UNKNOWN = {404: "`IdTagNotFound`"}


@router.get("", summary="List id tags", dependencies=[read], response_model=Paged[IdTagOut],
            responses=declare({}))
async def list_id_tags(page: Paging, reads: Queries, status: TagStatus | None = None,
                       q: str | None = None) -> dict[str, Any]:
    return await reads.id_tags.page_of(page, status=status, q=q)


@router.post("", status_code=201, summary="Create an id tag", dependencies=[write], response_model=IdTagOut,
             responses=declare({409: "`IdTagExists`"}))
async def create_id_tag(body: IdTagCreate, service: IdTags, reads: Queries) -> dict[str, Any]:
    await service.create(body.model_dump())
    return await reads.id_tags.get(body.id_tag)


@router.get("/{id_tag}", summary="One id tag", dependencies=[read], response_model=IdTagOut,
            responses=declare(UNKNOWN))
async def get_id_tag(id_tag: str, reads: Queries) -> dict[str, Any]:
    return await reads.id_tags.get(id_tag)


@router.patch("/{id_tag}", summary="Change an id tag", dependencies=[write], response_model=IdTagOut,
              responses=declare(UNKNOWN))
async def update_id_tag(id_tag: str, body: IdTagUpdate, service: IdTags, reads: Queries) -> dict[str, Any]:
    await service.update(id_tag, body.model_dump(exclude_unset=True))
    return await reads.id_tags.get(id_tag)


@router.delete("/{id_tag}", status_code=204, summary="Delete an id tag", dependencies=[write],
               response_class=Response, responses=declare(UNKNOWN))
async def delete_id_tag(id_tag: str, service: IdTags) -> Response:
    await service.delete(id_tag)
    return Response(status_code=204)
