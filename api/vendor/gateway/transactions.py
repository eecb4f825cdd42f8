"""Rentals, the doc's "transactions": rent a locker, release it, open it by transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from api.auth import Caller
from api.vendor.gateway.common import (
    OPEN_ERRORS,
    READ,
    RENT,
    IdQuery,
    Page,
    PageSize,
    RentalsService,
    _error,
    gateway_router,
)
from api.vendor.gateway.schemas import (
    MAX_ID,
    LockerOperationResponse,
    TransactionCreate,
    TransactionList,
    TransactionResponse,
)
from api.vendor.gateway.shaping import answer_open, tx_json

router = gateway_router()

# -- transactions --------------------------------------------------------------------------------
@router.get("/transactions", summary="List all transactions (rentals), newest first",
             response_model=TransactionList)
async def list_transactions(*, service: RentalsService, page: Page = 1, pageSize: PageSize = 50,
                            active: Annotated[bool | None,
                                              Query(description="Held (true) or released (false).")] = None,
                            lockerId: IdQuery = None, userId: IdQuery = None,
                            caller: Annotated[Caller, Depends(READ)]) -> TransactionList:
    rows, total = await service.find(caller, page=page, page_size=pageSize, active=active,
                                     locker_id=lockerId, user_id=userId)
    return TransactionList(items=[tx_json(r) for r in rows], total=total, page=page, pageSize=pageSize)


@router.post("/transactions", status_code=201, summary="Create a transaction: rent a locker",
              response_model=TransactionResponse,
              responses={404: _error("`LockerNotFound`, `LockerTypeNotFound`, `UserNotFound`"),
                         409: _error("`LockerOutOfService`, `LockerTypeAlwaysOutOfService`, "
                                     "`LockerInUse`, `LockerAssigned`, `LockerNotOperational`, "
                                     "`NoLockerAvailable` (none of the type is free)")})
async def create_transaction(body: TransactionCreate, service: RentalsService,
                             caller: Annotated[Caller, Depends(RENT)]) -> TransactionResponse:
    return tx_json(await service.create(caller, locker_id=body.lockerId, locker_type_id=body.lockerTypeId,
                                        user_id=body.userId, reference=body.reference))


TxIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/transactions/{transactionId}", summary="Get transaction details",
             response_model=TransactionResponse, responses={404: _error("`TransactionNotFound`")})
async def get_transaction(transactionId: TxIdPath, service: RentalsService,
                          caller: Annotated[Caller, Depends(READ)]) -> TransactionResponse:
    return tx_json(await service.get(transactionId, caller))


@router.post("/transactions/{transactionId}/release", summary="Release transaction: the user gives the locker back",
              response_model=TransactionResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`: released already")})
async def release_transaction(transactionId: TxIdPath, service: RentalsService,
                              caller: Annotated[Caller, Depends(RENT)]) -> TransactionResponse:
    return tx_json(await service.release(transactionId, caller))


@router.post("/transactions/{transactionId}/open", summary="Open locker by transaction ID",
              response_model=LockerOperationResponse,
              responses={404: _error("`TransactionNotFound`"),
                         409: _error("`TransactionNotActive`, or an open failure (see `POST "
                                     "/lockers/{lockerId}/open`)"),
                         503: OPEN_ERRORS[503]})
async def open_by_transaction(transactionId: TxIdPath, service: RentalsService,
                              caller: Annotated[Caller, Depends(RENT)]) -> LockerOperationResponse:
    """Only for an active transaction; an out-of-service locker still opens for its holder."""
    return answer_open(await service.open(transactionId, caller))
