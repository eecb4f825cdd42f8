"""API tokens (admin only). A token's secret is shown once, at creation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from api.auth import require
from api.deps import Paging, Queries, Tokens
from api.errors import declare
from api.gate import GuardedRoute
from api.schemas import Paged
from api.schemas.tokens import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], dependencies=[Depends(require("admin"))],
                   route_class=GuardedRoute)


@router.get("", summary="List tokens (secrets are never shown again)", response_model=Paged[TokenOut],
            responses=declare({}))
async def list_tokens(page: Paging, reads: Queries, include_revoked: bool = False) -> dict[str, Any]:
    return await reads.tokens.page_of(page, include_revoked=include_revoked)


@router.post("", status_code=201, summary="Create a token; the response holds its secret, once",
             response_model=TokenCreated, responses=declare({}))
async def create(body: TokenCreate, tokens: Tokens, reads: Queries) -> dict[str, Any]:
    token_id, secret = await tokens.create(body.name, body.role)
    return {**await reads.tokens.get(token_id), "token": secret}


@router.delete("/{token_id}", status_code=204, summary="Revoke a token", response_class=Response,
               responses=declare({404: "`TokenNotFound`: unknown or revoked already"}))
async def revoke(token_id: int, tokens: Tokens) -> Response:
    await tokens.revoke(token_id)
    return Response(status_code=204)
