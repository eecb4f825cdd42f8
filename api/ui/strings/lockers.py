"""The lockers page: banks, bays, their doors and charging, the audit log (lockers.html, lockers.js)."""

from __future__ import annotations

from api.ui.strings.texts import Texts

EN: Texts = {
    "lockers.title": "Lockers",
    "lockers.id_tag": "Id tag for charging",
    "lockers.audit": "Audit log",
    "lockers.col_when": "When",
    "lockers.col_who": "Who",
    "lockers.col_action": "Action",
    "lockers.col_locker": "Locker",
    "lockers.col_details": "Details",
    "lockers.no_audit": "No audit entries yet.",
    "lockers.none": "No lockers: configure the locker bridge (CHARGEBAY_BRIDGE_CONFIG) or run the demo.",
    "lockers.bays": {"one": "{n} bay", "other": "{n} bays"},
    "lockers.bay": "Bay {bay}",
    "lockers.door": "Door",
    "lockers.item": "Item",
    "lockers.charging": "Charging",
    "lockers.door_open": "open",
    "lockers.door_closed": "closed",
    "lockers.item_occupied": "occupied",
    "lockers.item_empty": "empty",
    "lockers.outlet_off": "off",
    "lockers.outlet_charging": "charging",
    "lockers.outlet_idle": "idle",
    "lockers.outlet_fault": "fault",
    "lockers.power": "Power",
    "lockers.watts": "{w} W",
    "lockers.service": "Service",
    "lockers.out_of_service": "out of service",
    "lockers.open": "Open",
    "lockers.open_door": "Open door",
    "lockers.stop": "Stop",
    "lockers.charge": "Charge",
    "lockers.set_in_service": "In service",
    "lockers.set_out_of_service": "Out of service",
    "lockers.open_all": "Open all doors",
    "lockers.confirm_open": "Open the door of bay {bay} ({identity}) in {bank}? Its lock releases "
                            "at once and whatever is inside can be taken.",
    "lockers.confirm_open_all": {
        "one": "Open the door of the {n} bay in {bank}? Its lock releases at once and whatever is "
               "inside can be taken.",
        "other": "Open all {n} doors in {bank}, one after the other? Every lock releases and "
                 "whatever is inside can be taken."},
    "lockers.opened_all": "{bank}: {succeeded} of {total} doors opened, {failed} failed, {skipped} skipped.",
}
