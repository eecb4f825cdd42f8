"""Writes of a 2.0.1 station's device model (``device_variables``, see migration 0011).

A NotifyReport describes attributes whole (value, mutability, data type, unit): its rows replace
what was kept. A GetVariables answer or an accepted SetVariables confirms a value only: it sets
the value and leaves the characteristics a report gave.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csms.store.models import DeviceVariable, table
from csms.store.writer import Writer
from ocppj.basic_auth import is_password

_VARIABLES = table(DeviceVariable)
KEY = ("charge_point_id", "component", "component_instance", "evse_id", "connector_id", "variable",
       "variable_instance", "attribute_type")


def key(charge_point_id: str, component: dict[str, Any], variable: dict[str, Any],
        attribute_type: str | None) -> dict[str, Any]:
    """The row key of one attribute ('' and 0 for the parts a message leaves out)."""
    evse = component.get("evse") or {}
    return {"charge_point_id": charge_point_id, "component": component["name"],
            "component_instance": component.get("instance") or "", "evse_id": evse.get("id") or 0,
            "connector_id": evse.get("connectorId") or 0, "variable": variable["name"],
            "variable_instance": variable.get("instance") or "", "attribute_type": attribute_type or "Actual"}


def reported(charge_point_id: str, report_data: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Full rows of a NotifyReport's ``reportData``: one per variable attribute (a password's
    value is never kept, should a station report one)."""
    rows = []
    for item in report_data:
        traits = item.get("variableCharacteristics") or {}
        secret = is_password(item, False)
        for attribute in item["variableAttribute"]:
            rows.append({**key(charge_point_id, item["component"], item["variable"], attribute.get("type")),
                         "value": None if secret else attribute.get("value"),
                         "mutability": attribute.get("mutability", "ReadWrite"),
                         "data_type": traits.get("dataType"), "unit": traits.get("unit"),
                         "source": "NotifyReport", "updated_at": now})
    return rows


def keep_reported(writer: Writer, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        writer.upsert(_VARIABLES, row, KEY)


async def confirm(writer: Writer, rows: list[dict[str, Any]]) -> None:
    """Set the value of each row (key + ``value``, ``source``, ``updated_at``), creating the
    attribute if the station never reported it; characteristics stay as reported."""
    if not rows:
        return
    full = [{"mutability": None, "data_type": None, "unit": None, **row} for row in rows]
    stmt = writer.dialect_insert(_VARIABLES).values(full)
    stmt = stmt.on_conflict_do_update(index_elements=list(KEY), set_={
        "value": stmt.excluded.value, "source": stmt.excluded.source, "updated_at": stmt.excluded.updated_at})
    await writer.run(lambda c: c.execute(stmt))
