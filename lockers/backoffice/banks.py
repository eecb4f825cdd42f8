"""Banks: a column of lockers on one controller board (a serial port and an RS-485 address).

A bank is where the bridge finds its lockers, so moving it (port, address) is refused while the
bridge drives them where they were, and moved to a port the bridge has, they are driven there at
once; a renamed bank renames the bridge's cabins (listed by bank name).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.lockers import bridge_conflict, drive
from lockers.backoffice.tables import BANK, BANK_TYPE, BANKS, DEVICE, LOCATION, LOCKERS
from lockers.errors import Conflict
from lockers.records import Shape, free, insert, log, one, page_of, remove, row_or_404, unreferenced, write
from lockers.scope import Viewer


def _query() -> Select[Any]:
    count = (select(func.count()).where(LOCKERS.c.bank_id == BANKS.c.id)
             .correlate(BANKS).scalar_subquery())
    return select(BANKS, count.label("lockers"))


async def _refs(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await row_or_404(conn, BANK_TYPE, values.get("bankTypeId"))
    await row_or_404(conn, DEVICE, values.get("deviceId"))
    await row_or_404(conn, LOCATION, values.get("locationId"))


async def _board_taken(conn: AsyncConnection, port: str, address: int, except_id: int | None) -> None:
    query = select(BANKS.c.name).where(BANKS.c.port == port, BANKS.c.address == address)
    if except_id is not None:
        query = query.where(BANKS.c.id != except_id)
    found = (await conn.execute(query)).first()
    if found is not None:
        raise Conflict("BankExists", f"bank {found.name!r} is {port} board {address}")


def _exists() -> Conflict:
    """A bank the database found duplicate: its name or its board (port + address)."""
    return Conflict("BankExists", "the bank exists")


class BankService(BackOfficeService):
    def _shape(self) -> Shape:
        bridge = self.site.bridge

        def shape(row: Any) -> dict[str, Any]:
            return {"id": row.id, "name": row.name, "port": row.port, "address": row.address,
                    "bankTypeId": row.bank_type_id, "deviceId": row.device_id,
                    "locationId": row.location_id, "lockers": row.lockers,
                    "portKnown": bridge is not None and row.port in bridge.buses}

        return shape

    async def page(self, page: Page, q: str | None, port: str | None) -> dict[str, Any]:
        return await page_of(self.engine, page, _query().order_by(BANKS.c.name), q,
                             [BANKS.c.name, BANKS.c.port], self._shape(), where=[(BANKS.c.port, port)])

    async def get(self, bank_id: int) -> dict[str, Any]:
        return await one(self.engine, BANK, bank_id, _query(), self._shape())

    async def add(self, who: Viewer, values: dict[str, Any]) -> int:
        """Add a bank (its name and its board free); its id."""
        async def work(conn: AsyncConnection) -> int:
            await _refs(conn, values)
            await free(conn, BANK, values["name"])
            await _board_taken(conn, values["port"], values["address"], None)
            return await insert(conn, who, BANK, values, device_id=values.get("deviceId"), **values)

        return await write(self.engine, work, _exists())

    async def update(self, who: Viewer, bank_id: int, values: dict[str, Any]) -> None:
        """Change the fields ``values`` sets; a move is refused (``BankDriven``) while the bridge
        drives its lockers at the old board, and its lockers are driven at the new one."""
        bridge = self.site.bridge

        async def work(conn: AsyncConnection) -> tuple[tuple[str, str, int] | None, list[Any]]:
            bank = await row_or_404(conn, BANK, bank_id)
            await _refs(conn, values)
            if "name" in values:
                await free(conn, BANK, values["name"], bank_id)
            port, address = values.get("port", bank.port), values.get("address", bank.address)
            lockers = list((await conn.execute(select(LOCKERS.c.identity, LOCKERS.c.bay).where(
                LOCKERS.c.bank_id == bank_id))).all())
            moved = (port, address) != (bank.port, bank.address)
            if moved:
                await _board_taken(conn, port, address, bank_id)
                if bridge is not None and any(row.identity in bridge.cps for row in lockers):
                    raise Conflict("BankDriven", f"the bridge drives bank {bank.name!r} at "
                                   f"{bank.port} board {bank.address}; it cannot move while it runs")
                for row in lockers:
                    conflict = bridge_conflict(self.site, row.identity, port, address, row.bay)
                    if conflict is not None:
                        raise conflict
            if values:
                await conn.execute(update(BANKS).where(BANKS.c.id == bank_id).values(BANK.columns(values)))
                await log(conn, who, BANK, "edit", bank_id, device_id=values.get("deviceId"), **values)
            return ((values.get("name", bank.name), port, address) if moved else None), lockers

        board, lockers = await write(self.engine, work, _exists())
        if board is not None:
            for row in lockers:
                drive(self.site, row.identity, *board, row.bay)
        if "name" in values:  # the bridge's cabins are listed by locker name
            self.site.rename_bank([row.identity for row in lockers], values["name"])

    async def delete(self, who: Viewer, bank_id: int) -> None:
        """Refused (``BankInUse``) while it has lockers: deleting it must not take them along."""
        await remove(self.engine, who, BANK, bank_id, also=unreferenced(
            LOCKERS.c.bank_id, "BankInUse",
            lambda bank, count: f"bank {bank.name!r} has {count} locker(s); delete them first"))
