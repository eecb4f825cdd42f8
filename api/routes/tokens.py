"""API tokens (admin only). A token's secret is shown once, at creation."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from api.auth import create_token, require
from api.deps import Page, central, jsonable, page_params, paginate
from api.errors import ApiError
from api.gate import GuardedRoute
from api.models import ApiToken
from csms.central import CentralSystem
from csms.timeutil import now_utc

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], dependencies=[Depends(require("admin"))],
                   route_class=GuardedRoute)
_TOKENS = ApiToken.__table__
_PUBLIC = [c for c in _TOKENS.c if c.name != "token_hash"]


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "operator", "integrator", "viewer"]

    model_config = {"json_schema_extra": {"examples": [{"name": "billing-system", "role": "integrator"}]}}


@router.get("", summary="List tokens (secrets are never shown again)")
async def list_tokens(page: Page = Depends(page_params), include_revoked: bool = False,
                      cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    query = select(*_PUBLIC).order_by(_TOKENS.c.id)
    if not include_revoked:
        query = query.where(_TOKENS.c.revoked_at.is_(None))
    return await paginate(cs.engine, query, page)


@router.post("", status_code=201, summary="Create a token; the response holds its secret, once")
async def create(body: TokenCreate, cs: CentralSystem = Depends(central)) -> dict[str, Any]:
    token_id, secret = await create_token(cs.engine, body.name, body.role)
    async with cs.engine.connect() as conn:
        row = (await conn.execute(select(*_PUBLIC).where(_TOKENS.c.id == token_id))).one()
    return {**jsonable(row), "token": secret}


@router.delete("/{token_id}", status_code=204, summary="Revoke a token")
async def revoke(token_id: int, cs: CentralSystem = Depends(central)) -> Response:
    async with cs.engine.begin() as conn:
        result = await conn.execute(update(_TOKENS).where(
            _TOKENS.c.id == token_id, _TOKENS.c.revoked_at.is_(None)).values(revoked_at=now_utc()))
    if not result.rowcount:
        raise ApiError(404, "TokenNotFound", f"no active token {token_id}")
    return Response(status_code=204)
