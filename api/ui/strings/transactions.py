"""The transactions page: filters, the list, the CSV download (transactions.html,
transactions.js); its columns and "running" are the charge point page's recent transactions too."""

from __future__ import annotations

from api.ui.strings.texts import Texts

EN: Texts = {
    "transactions.title": "Transactions",
    "transactions.csv": "Download CSV",
    "transactions.state": "State",
    "transactions.any_state": "Running and finished",
    "transactions.only_running": "Running",
    "transactions.only_finished": "Finished",
    "transactions.since": "From",
    "transactions.until": "Before",
    "transactions.filter": "Filter",
    "transactions.col_id": "Id",
    "transactions.col_charge_point": "Charge point",
    "transactions.col_connector": "Connector",
    "transactions.col_id_tag": "Id tag",
    "transactions.col_started": "Started",
    "transactions.col_stopped": "Stopped",
    "transactions.col_energy": "Energy (Wh)",
    "transactions.col_reason": "Reason",
    "transactions.running": "running",
    "transactions.no_match": "No transactions match.",
    "transactions.page_info": {"one": "page {page} of {pages} · {n} transaction",
                               "other": "page {page} of {pages} · {n} transactions"},
    "transactions.newer": "‹ Newer",
    "transactions.older": "Older ›",
}
