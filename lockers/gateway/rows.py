"""The rows the gateway reads, and what makes a locker available: one query of lockers (with bank,
type and active rental) and one of rentals, so that a list, a single record and a rental decision
all see the same columns and the same rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockers.errors import NotFound
from lockers.models import AuditEntry, Bank, BankTypeLockerType, Device, Locker, LockerType, Rental, User, table
from lockers.models import BankType as BankTypeRow
from lockers.scope import Viewer, scoped

LOCKERS = table(Locker)
BANKS = table(Bank)
TYPES = table(LockerType)
BANK_TYPES = table(BankTypeRow)
ASSOCIATIONS = table(BankTypeLockerType)
RENTALS = table(Rental)
DEVICES = table(Device)
USERS = table(User)
AUDIT = table(AuditEntry)
ACTIVE = RENTALS.alias("active_rental")

NOT_OPERATIONAL = ("Faulted", "Unavailable")  # bridge statuses under which a locker is not rented


def locker_query() -> Any:
    """Lockers with their bank, type and active rental (if any), in id order."""
    return (select(LOCKERS, BANKS.c.name.label("bank_name"), BANKS.c.port, BANKS.c.address,
                   BANKS.c.bank_type_id, TYPES.c.name.label("type_name"), TYPES.c.size,
                   TYPES.c.has_charging, TYPES.c.always_oos,
                   ACTIVE.c.id.label("rental_id"), ACTIVE.c.user_id.label("rental_user_id"),
                   ACTIVE.c.reference.label("rental_reference"),
                   ACTIVE.c.created_at.label("rental_created_at"))
            .join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
            .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
            .outerjoin(ACTIVE, and_(ACTIVE.c.locker_id == LOCKERS.c.id, ACTIVE.c.released_at.is_(None)))
            .order_by(LOCKERS.c.id))


async def locker_row(conn: AsyncConnection, locker_id: int, viewer: Viewer) -> Any:
    """The locker's :func:`locker_query` row if the viewer may see it; else ``LockerNotFound``."""
    row = (await conn.execute(scoped(locker_query().where(LOCKERS.c.id == locker_id), viewer))).first()
    if row is None:
        raise NotFound("LockerNotFound", f"no locker {locker_id}")
    return row


def rental_query() -> Any:
    """Rentals with their locker's identity and device (the device scopes a kiosk's view)."""
    return (select(RENTALS, LOCKERS.c.identity.label("locker_identity"),
                   LOCKERS.c.device_id.label("locker_device_id"))
            .join(LOCKERS, LOCKERS.c.id == RENTALS.c.locker_id))


async def rental_row(conn: AsyncConnection, rental_id: int, viewer: Viewer) -> Any:
    """The rental's :func:`rental_query` row if the viewer may see its locker; else
    ``TransactionNotFound``."""
    row = (await conn.execute(scoped(rental_query().where(RENTALS.c.id == rental_id), viewer))).first()
    if row is None:
        raise NotFound("TransactionNotFound", f"no transaction {rental_id}")
    return row


def inserted_id(result: CursorResult[Any]) -> int:
    """The id a single-row INSERT made (the driver always reports it for one row)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return int(key[0])


def operational(live: dict[str, Any] | None) -> bool:
    """Not known to be broken: a locker no bridge drives is taken at its word."""
    return live is None or live.get("status") not in NOT_OPERATIONAL


@dataclass(frozen=True)
class LockerView:
    """A locker as the gateway shows it: its :func:`locker_query` row and the bridge's live view
    of it (None when no bridge drives it)."""

    row: Any
    live: dict[str, Any] | None

    @property
    def available(self) -> bool:
        """A new rental could take it now: in service, of a type that is rented, not assigned,
        without an active rental, and not reported broken by its bridge."""
        row = self.row
        return (not row.out_of_service and not row.always_oos and row.rental_id is None
                and row.assigned_user_id is None and operational(self.live))

    @property
    def out_of_service(self) -> bool:
        """Marked so, or of a type that is never in service."""
        return bool(self.row.out_of_service or self.row.always_oos)
