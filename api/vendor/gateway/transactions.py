"""Rentals, the doc's "transactions": rent a locker, release it, open it by transaction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy import exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth import Caller
from api.errors import ApiError
from api.vendor.gateway.common import (
    LOCKERS,
    OPEN_ERRORS,
    READ,
    RENT,
    RENTALS,
    TYPES,
    USERS,
    IdQuery,
    Page,
    PageSize,
    _error,
    engine_of,
    gateway_router,
)
from api.vendor.gateway.schemas import (
    MAX_ID,
    LockerOperationResponse,
    TransactionCreate,
    TransactionList,
    TransactionResponse,
)
from api.vendor.gateway.shaping import (
    _answer_open,
    _locker,
    _locker_query,
    _open,
    _operational,
    _transaction,
    _tx_json,
    _tx_query,
)
from api.vendor.sites import actor, locker_or_404, scoped, sites
from lockers.audit import audit, now_utc

router = gateway_router()

# -- transactions --------------------------------------------------------------------------------
@router.get("/transactions", summary="List all transactions (rentals), newest first",
             response_model=TransactionList)
async def list_transactions(*, request: Request, page: Page = 1, pageSize: PageSize = 50,
                            active: Annotated[bool | None,
                                              Query(description="Held (true) or released (false).")] = None,
                            lockerId: IdQuery = None, userId: IdQuery = None,
                            caller: Annotated[Caller, Depends(READ)]) -> TransactionList:
    query = scoped(_tx_query(), caller)
    if active is not None:
        query = query.where(RENTALS.c.released_at.is_(None) if active else RENTALS.c.released_at.isnot(None))
    if lockerId is not None:
        query = query.where(RENTALS.c.locker_id == lockerId)
    if userId is not None:
        query = query.where(RENTALS.c.user_id == userId)
    async with engine_of(request).connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        result = await conn.execute(query.order_by(RENTALS.c.id.desc())
                                    .limit(pageSize).offset((page - 1) * pageSize))
        items = [_tx_json(r) for r in result]
    return TransactionList(items=items, total=total, page=page, pageSize=pageSize)


async def _rent(conn: AsyncConnection, locker_id: int, user_id: int | None, reference: str | None
                ) -> int | None:
    """Insert the rental unless the locker already has an active one, in one statement (so two
    concurrent rentals of one locker cannot both succeed); None when it had one."""
    held = exists().where(RENTALS.c.locker_id == locker_id, RENTALS.c.released_at.is_(None))
    values = select(literal(locker_id, RENTALS.c.locker_id.type), literal(user_id, RENTALS.c.user_id.type),
                    literal(reference, RENTALS.c.reference.type),
                    literal(now_utc(), RENTALS.c.created_at.type)).where(~held)
    try:
        async with conn.begin_nested():  # the unique index on active rentals settles a race
            result = await conn.execute(RENTALS.insert().from_select(
                ["locker_id", "user_id", "reference", "created_at"], values).returning(RENTALS.c.id))
            row = result.first()
    except IntegrityError:
        return None
    return None if row is None else int(row.id)


def _refusal(row: Any, live: dict[str, Any] | None, user_id: int | None) -> ApiError | None:
    """Why this locker cannot take a new transaction for ``user_id`` (None: it can)."""
    if row.always_oos:
        return ApiError(409, "LockerTypeAlwaysOutOfService",
                        f"locker {row.id} is of type {row.type_name!r}, which is never rented")
    if row.out_of_service:
        return ApiError(409, "LockerOutOfService", f"locker {row.id} is out of service",
                        reasonCode=row.reason_code, reason=row.reason)
    if row.rental_id is not None:
        return ApiError(409, "LockerInUse", f"locker {row.id} has an active transaction")
    if row.assigned_user_id is not None and row.assigned_user_id != user_id:
        return ApiError(409, "LockerAssigned", f"locker {row.id} is assigned to another user")
    if live is not None and not _operational(live):
        return ApiError(409, "LockerNotOperational", f"the bridge reports locker {row.id} {live['status']}")
    return None


@router.post("/transactions", status_code=201, summary="Create a transaction: rent a locker",
              response_model=TransactionResponse,
              responses={404: _error("`LockerNotFound`, `LockerTypeNotFound`, `UserNotFound`"),
                         409: _error("`LockerOutOfService`, `LockerTypeAlwaysOutOfService`, "
                                     "`LockerInUse`, `LockerAssigned`, `LockerNotOperational`, "
                                     "`NoLockerAvailable` (none of the type is free)")})
async def create_transaction(body: TransactionCreate, request: Request,
                             caller: Annotated[Caller, Depends(RENT)]) -> TransactionResponse:
    service = sites(request)
    async with engine_of(request).begin() as conn:
        if body.userId is not None and (await conn.execute(
                select(USERS.c.id).where(USERS.c.id == body.userId))).first() is None:
            raise ApiError(404, "UserNotFound", f"no user {body.userId}")
        if body.lockerId is not None:
            row = await _locker(conn, body.lockerId, caller)
            refusal = _refusal(row, service.live(row.identity), body.userId)
            if refusal is not None:
                raise refusal
            candidates = [row]
        else:
            kind = (await conn.execute(select(TYPES).where(TYPES.c.id == body.lockerTypeId))).first()
            if kind is None:
                raise ApiError(404, "LockerTypeNotFound", f"no locker type {body.lockerTypeId}")
            if kind.always_oos:
                raise ApiError(409, "LockerTypeAlwaysOutOfService",
                               f"locker type {kind.name!r} is never rented")
            rows = (await conn.execute(scoped(_locker_query().where(
                LOCKERS.c.locker_type_id == body.lockerTypeId), caller))).all()
            candidates = [r for r in rows if _refusal(r, service.live(r.identity), body.userId) is None]
            # the user's own assigned locker first, then the lowest id
            candidates.sort(key=lambda r: (r.assigned_user_id is None, r.id))
        for row in candidates:
            rental_id = await _rent(conn, row.id, body.userId, body.reference)
            if rental_id is not None:
                break
        else:
            if body.lockerId is not None:
                raise ApiError(409, "LockerInUse", f"locker {body.lockerId} has an active transaction")
            raise ApiError(409, "NoLockerAvailable",
                           f"no locker of type {body.lockerTypeId} is available")
        await audit(conn, actor(caller), "transaction.create", locker_id=row.id, device_id=row.device_id,
                    transactionId=rental_id, userId=body.userId, reference=body.reference,
                    lockerTypeId=body.lockerTypeId)
        created = await _transaction(conn, rental_id, caller)
    return _tx_json(created)


TxIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/transactions/{transactionId}", summary="Get transaction details",
             response_model=TransactionResponse, responses={404: _error("`TransactionNotFound`")})
async def get_transaction(transactionId: TxIdPath, request: Request,
                          caller: Annotated[Caller, Depends(READ)]) -> TransactionResponse:
    async with engine_of(request).connect() as conn:
        return _tx_json(await _transaction(conn, transactionId, caller))


@router.post("/transactions/{transactionId}/release", summary="Release transaction: the user gives the locker back",
              response_model=TransactionResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`: released already")})
async def release_transaction(transactionId: TxIdPath, request: Request,
                              caller: Annotated[Caller, Depends(RENT)]) -> TransactionResponse:
    async with engine_of(request).begin() as conn:
        row = await _transaction(conn, transactionId, caller)
        done = await conn.execute(update(RENTALS).where(
            RENTALS.c.id == transactionId, RENTALS.c.released_at.is_(None)).values(released_at=now_utc()))
        if not done.rowcount:
            raise ApiError(409, "TransactionNotActive", f"transaction {transactionId} was released already")
        await audit(conn, actor(caller), "transaction.release", locker_id=row.locker_id,
                    device_id=row.locker_device_id, transactionId=transactionId)
        return _tx_json(await _transaction(conn, transactionId, caller))


@router.post("/transactions/{transactionId}/open", summary="Open locker by transaction ID",
              response_model=LockerOperationResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`, or an open failure (see `POST "
                                     "/lockers/{lockerId}/open`)"),
                         503: OPEN_ERRORS[503]})
async def open_by_transaction(transactionId: TxIdPath, request: Request,
                              caller: Annotated[Caller, Depends(RENT)]) -> LockerOperationResponse:
    """Only for an active transaction; an out-of-service locker still opens for its holder."""
    async with engine_of(request).connect() as conn:
        tx = await _transaction(conn, transactionId, caller)
        if tx.released_at is not None:
            raise ApiError(409, "TransactionNotActive", f"transaction {transactionId} was released")
        row = await locker_or_404(conn, tx.locker_id, caller)
    status, outcome = await _open(sites(request), row, actor(caller), transactionId)
    async with engine_of(request).begin() as conn:
        await audit(conn, actor(caller), "transaction.open", locker_id=row.id, device_id=row.device_id,
                    transactionId=transactionId, success=outcome.success, code=outcome.code)
    return _answer_open(status, outcome)


