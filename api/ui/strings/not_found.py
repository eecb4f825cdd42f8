"""The page of an address that names nothing (not_found.html)."""

from __future__ import annotations

from api.ui.strings.texts import Texts

EN: Texts = {
    "not_found.title": "Not found",
    "not_found.no_charge_point": "There is no charge point {id}. It may have been deleted, or its id is spelt "
                                 "differently (ids are case-sensitive).",
    "not_found.nothing": "There is nothing at this address.",
    "not_found.back": "Back to {page}",
    "not_found.back_home": "Back to the dashboard",
}
