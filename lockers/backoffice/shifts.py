"""Shifts (when, in the site's local time) and the devices on each: a device is on a shift at
most once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from csms.queries import Page
from lockers.backoffice.base import BackOfficeService
from lockers.backoffice.tables import DEVICE, DEVICES, SHIFT, SHIFT_DEVICE, SHIFT_DEVICES, SHIFTS, json_list
from lockers.errors import Conflict
from lockers.records import create, insert, log, one, page_of, patch, remove, row_or_404, write
from lockers.scope import Viewer


def _shift(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "starts": row.starts, "ends": row.ends,
            "days": json_list(row.days)}


def _on_shift_query() -> Select[Any]:
    return (select(SHIFT_DEVICES.c.id, SHIFT_DEVICES.c.shift_id.label("shiftId"),
                   SHIFTS.c.name.label("shiftName"), SHIFT_DEVICES.c.device_id.label("deviceId"),
                   DEVICES.c.code.label("deviceCode"), DEVICES.c.name.label("deviceName"))
            .select_from(SHIFT_DEVICES.join(SHIFTS, SHIFTS.c.id == SHIFT_DEVICES.c.shift_id)
                         .join(DEVICES, DEVICES.c.id == SHIFT_DEVICES.c.device_id)))


async def _check_on_shift(conn: AsyncConnection, shift_id: int, device_id: int,
                          except_id: int | None = None) -> None:
    """Both exist and the device is not on that shift yet (except as ``except_id``)."""
    await row_or_404(conn, SHIFT, shift_id)
    await row_or_404(conn, DEVICE, device_id)
    query = select(SHIFT_DEVICES.c.id).where(SHIFT_DEVICES.c.shift_id == shift_id,
                                             SHIFT_DEVICES.c.device_id == device_id)
    if except_id is not None:
        query = query.where(SHIFT_DEVICES.c.id != except_id)
    if (await conn.execute(query)).first() is not None:
        raise Conflict("ShiftDeviceExists", f"device {device_id} is already on shift {shift_id}")


class ShiftService(BackOfficeService):
    async def page(self, page: Page, q: str | None) -> dict[str, Any]:
        """Shifts by start time, then name."""
        return await page_of(self.engine, page, select(SHIFTS).order_by(SHIFTS.c.starts, SHIFTS.c.name),
                             q, [SHIFTS.c.name], _shift)

    async def get(self, shift_id: int) -> dict[str, Any]:
        return await one(self.engine, SHIFT, shift_id, shape=_shift)

    async def add(self, who: Viewer, values: dict[str, Any]) -> int:
        return await create(self.engine, who, SHIFT, values)

    async def update(self, who: Viewer, shift_id: int, values: dict[str, Any]) -> None:
        await patch(self.engine, who, SHIFT, shift_id, values)

    async def delete(self, who: Viewer, shift_id: int) -> None:
        """Its devices go with it (they are on it, not of it)."""
        await remove(self.engine, who, SHIFT, shift_id)


class ShiftDeviceService(BackOfficeService):
    """A device on a shift: a record of its own (it has an id), named by both."""

    async def page(self, page: Page, q: str | None, shift_id: int | None,
                   device_id: int | None) -> dict[str, Any]:
        return await page_of(self.engine, page, _on_shift_query().order_by(SHIFT_DEVICES.c.id), q,
                             [SHIFTS.c.name, DEVICES.c.code, DEVICES.c.name],
                             where=[(SHIFT_DEVICES.c.shift_id, shift_id),
                                    (SHIFT_DEVICES.c.device_id, device_id)])

    async def get(self, shift_device_id: int) -> dict[str, Any]:
        return await one(self.engine, SHIFT_DEVICE, shift_device_id, _on_shift_query())

    async def add(self, who: Viewer, shift_id: int, device_id: int) -> int:
        async def work(conn: AsyncConnection) -> int:
            await _check_on_shift(conn, shift_id, device_id)
            return await insert(conn, who, SHIFT_DEVICE, {"shiftId": shift_id, "deviceId": device_id},
                                device_id=device_id, shift_id=shift_id)

        return await write(self.engine, work, SHIFT_DEVICE.conflict())

    async def update(self, who: Viewer, shift_device_id: int, shift_id: int | None,
                     device_id: int | None) -> None:
        """Move it to another shift or device (None: the one it has)."""
        async def work(conn: AsyncConnection) -> None:
            row = await row_or_404(conn, SHIFT_DEVICE, shift_device_id)
            shift = shift_id or row.shift_id
            device = device_id or row.device_id
            await _check_on_shift(conn, shift, device, shift_device_id)
            await conn.execute(update(SHIFT_DEVICES).where(SHIFT_DEVICES.c.id == shift_device_id)
                               .values(shift_id=shift, device_id=device))
            await log(conn, who, SHIFT_DEVICE, "edit", shift_device_id, device_id=device,
                      shift_id=shift)

        await write(self.engine, work, SHIFT_DEVICE.conflict())

    async def delete(self, who: Viewer, shift_device_id: int) -> None:
        await remove(self.engine, who, SHIFT_DEVICE, shift_device_id,
                     details=lambda row: {"device_id": row.device_id, "shift_id": row.shift_id})
