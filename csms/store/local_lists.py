"""Keeping the local list a charge point accepted (see :mod:`csms.services.local_lists`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.store.models import ChargePoint, table
from csms.store.security_models import LocalListEntry
from csms.timeutil import parse_ts

_LIST = table(LocalListEntry)
_CP = table(ChargePoint)


def apply_sent_list(charge_point_id: str, payload: dict[str, Any]
                    ) -> Callable[[AsyncConnection], Awaitable[None]]:
    """The kept list and its version after the charge point accepted ``payload`` (a SendLocalList),
    in one transaction: a reader never sees the new entries under the old version."""
    async def op(conn: AsyncConnection) -> None:
        entries = payload.get("localAuthorizationList") or []
        mine = _LIST.c.charge_point_id == charge_point_id
        if payload["updateType"] == "Full":
            await conn.execute(delete(_LIST).where(mine))
        else:
            tags = [e["idTag"] for e in entries]
            if tags:
                await conn.execute(delete(_LIST).where(mine, _LIST.c.id_tag.in_(tags)))
        rows = [{"charge_point_id": charge_point_id, "id_tag": e["idTag"],
                 "status": e["idTagInfo"]["status"],
                 "expiry_date": parse_ts(e["idTagInfo"].get("expiryDate")),
                 "parent_id_tag": e["idTagInfo"].get("parentIdTag")}
                for e in entries if "idTagInfo" in e]
        if rows:
            await conn.execute(_LIST.insert(), rows)
        await conn.execute(update(_CP).where(_CP.c.id == charge_point_id).values(
            local_list_version=payload["listVersion"]))
    return op
