"""Lockers seen as smart locks (the smart-lock API of seed 003): one query gives a lock's row with
its bank, its type and its bay's charge point (online, last seen), so the API reads the charge
point's state without reaching into the central system's store itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, cast, select

from csms.store.models import ChargePoint
from lockers.models import Bank, Locker, LockerType, table

LOCKERS = table(Locker)
BANKS = table(Bank)
TYPES = table(LockerType)
CPS = table(ChargePoint)

# "<bank> bay <n>": the vendor's lock name, searchable like the identity
LOCK_NAME = BANKS.c.name + " bay " + cast(LOCKERS.c.bay, String)


def lock_query() -> Select[Any]:
    """Every lock (a locker bay) with what the vendor's lock item shows."""
    return (select(LOCKERS.c.id, LOCKERS.c.identity, LOCKERS.c.bay, LOCKERS.c.device_id,
                   LOCKERS.c.assigned_user_id, LOCKERS.c.door_open, LOCKERS.c.door_changed_at,
                   LOCKERS.c.broken_lock, BANKS.c.name.label("bank"), TYPES.c.name.label("type_name"),
                   CPS.c.online.label("cp_online"), CPS.c.last_seen.label("cp_last_seen"))
            .select_from(LOCKERS.join(BANKS, BANKS.c.id == LOCKERS.c.bank_id)
                         .outerjoin(TYPES, TYPES.c.id == LOCKERS.c.locker_type_id)
                         .outerjoin(CPS, CPS.c.id == LOCKERS.c.identity)))
