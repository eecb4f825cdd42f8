"""Local authorization lists, derived from the id-tag table (Local Auth List Management profile).

A charge point's list is every id tag, or one group (the tags whose parent is the group's id
tag), as the central system would answer Authorize for each now. A Full update sends it all; a
Differential one only what changed since the list the charge point accepted last (kept per
charge point in ``local_list_entries``, with its version): changed or new tags with their
``idTagInfo``, removed ones without (the 1.6 way of saying delete); a 2.0.1 station gets the same
list in its shape (:func:`~csms.services.shapes_201.local_list_201`). The kept list changes only
when the charge point answers Accepted (:func:`csms.store.local_lists.apply_sent_list`, from
:class:`~csms.services.command_effects.CommandEffects`), so a failed update is simply sent again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from csms.services.commands import CommandRun, CommandService
from csms.services.errors import NotFound
from csms.services.shapes_201 import local_list_201
from csms.store.models import ChargePoint, IdTag, table
from csms.store.security_models import LocalListEntry
from csms.timeutil import iso, now_utc, utc
from ocppj.versions import V16

_TAGS = table(IdTag)
_LIST = table(LocalListEntry)
_CP = table(ChargePoint)


def _info(status: str, expiry: Any, parent: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = iso(utc(expiry))
    if parent:
        info["parentIdTag"] = parent
    return info


async def derived_list(conn: AsyncConnection, group: str | None) -> dict[str, dict[str, Any]]:
    """id tag -> idTagInfo, for every tag (or those of ``group``), expired ones as Expired."""
    query = select(_TAGS.c.id_tag, _TAGS.c.status, _TAGS.c.expiry_date, _TAGS.c.parent_id_tag)
    if group is not None:
        query = query.where(_TAGS.c.parent_id_tag == group)
    now = now_utc()
    found = {}
    for tag in await conn.execute(query):
        expiry = utc(tag.expiry_date)
        status = "Expired" if tag.status == "Accepted" and expiry is not None and expiry <= now else tag.status
        found[tag.id_tag] = _info(status, expiry, tag.parent_id_tag)
    return found


class LocalListService:
    """Sends a charge point its list, and checks which version it holds."""

    def __init__(self, engine: AsyncEngine, commands: CommandService) -> None:
        self._engine = engine
        self._commands = commands

    async def _kept(self, conn: AsyncConnection, charge_point_id: str
                    ) -> tuple[int | None, dict[str, dict[str, Any]]]:
        row = (await conn.execute(select(_CP.c.local_list_version).where(
            _CP.c.id == charge_point_id))).first()
        if row is None:
            raise NotFound("ChargePointNotFound", f"no charge point {charge_point_id!r}")
        kept = {e.id_tag: _info(e.status, e.expiry_date, e.parent_id_tag)
                for e in await conn.execute(select(_LIST).where(_LIST.c.charge_point_id == charge_point_id))}
        return row[0], kept

    async def send(self, charge_point_id: str, update_type: str, group: str | None,
                   version: int | None, requested_by: str, wait: float) -> tuple[dict[str, Any], CommandRun]:
        """Send the list (Full) or what changed (Differential) as the next version (or
        ``version``). Returns what was sent (version, counts) and the command."""
        async with self._engine.connect() as conn:
            current, kept = await self._kept(conn, charge_point_id)
            wanted = await derived_list(conn, group)
        if update_type == "Full":
            entries = [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(wanted.items())]
            removed = 0
        else:
            entries = [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(wanted.items())
                       if kept.get(tag) != info]
            gone = sorted(set(kept) - set(wanted))
            entries += [{"idTag": tag} for tag in gone]
            removed = len(gone)
        list_version = version if version is not None else (current or 0) + 1
        payload = {"listVersion": list_version, "updateType": update_type,
                   "localAuthorizationList": entries}
        if await self._commands.version(charge_point_id) is not V16:
            payload = local_list_201(payload)
        run = await self._commands.run(charge_point_id, "SendLocalList", payload, wait=wait,
                                       requested_by=requested_by)
        sent = {"version": list_version, "update_type": update_type, "group": group,
                "entries": len(entries) - removed, "removed": removed}
        return sent, run

    async def check(self, charge_point_id: str, requested_by: str, wait: float
                    ) -> tuple[int | None, int | None, CommandRun]:
        """GetLocalListVersion: the version the central system expects, the one the charge point
        answered it holds (None: no answer), and the command."""
        async with self._engine.connect() as conn:
            current, _ = await self._kept(conn, charge_point_id)
        run = await self._commands.run(charge_point_id, "GetLocalListVersion", {}, wait=wait,
                                       requested_by=requested_by)
        answer = run.outcome.payload if run.outcome is not None and run.outcome.kind == "result" else None
        held = (answer.get("listVersion", answer.get("versionNumber")) if answer else None)  # 1.6, 2.0.1
        return current, held, run
