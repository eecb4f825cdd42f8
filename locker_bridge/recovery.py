"""A bay that kept no state asks the CSMS what it holds open for it, instead of starting blind.

A bridge whose state file is gone (a new container, another data directory, a disk replaced) has
bays whose outlets may still be charging for transactions the CSMS thinks are open: left alone,
the CSMS would hold them open for ever and refuse their id tags elsewhere. So after its first boot a
bay with no transaction of its own asks (DataTransfer vendorId ``chargebay``, messageId
``OpenTransactions``) and, before it reports any status: a transaction on an outlet that is still
on is adopted (metering goes on, its meter continuing from the last reading the CSMS has), one on
an outlet that is off is stopped (reason Reboot, at that last reading). A CSMS without the
extension answers UnknownVendorId or UnknownMessageId: nothing to learn, the bay goes on as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from chargepoint.client import CALL_FAILED
from chargepoint.errors import CallRefused
from locker_bridge.bay import Outlet, Tx
from locker_bridge.bay_transactions import BayTransactions

log = logging.getLogger(__name__)
VENDOR_ID = "chargebay"
MESSAGE_ID = "OpenTransactions"


async def open_transactions(cp: BayTransactions) -> list[dict[str, Any]] | None:
    """What the CSMS holds open for this charge point (None: it cannot say)."""
    try:
        answer = await cp.call("DataTransfer", {"vendorId": VENDOR_ID, "messageId": MESSAGE_ID})
    except CALL_FAILED as exc:
        log.info("%s: could not ask the CSMS for open transactions (%r)", cp.identity, exc)
        return None
    if answer.get("status") != "Accepted":
        return None
    try:
        found = json.loads(answer.get("data") or "{}").get("transactions", [])
    except (ValueError, AttributeError):
        log.warning("%s: the CSMS's OpenTransactions answer is not what it should be: %r",
                    cp.identity, answer.get("data"))
        return None
    # a 2.0.1 bay can end only what it can name: the station's own transaction id
    named = cp.version.name == "1.6"
    return [t for t in found if isinstance(t, dict) and t.get("connectorId") == 1
            and (named or t.get("stationTransactionId"))]


async def reconcile_with_csms(cp: BayTransactions) -> None:
    """Adopt or stop what the CSMS holds open for a bay that kept nothing (see the module)."""
    found = await open_transactions(cp)
    if found is None:
        return
    cp.ask_csms = False
    bay = cp.bay
    for t in sorted(found, key=lambda t: t["transactionId"]):
        # the CSMS's last reading, or the board's register if it has counted on from there (a
        # register below the start has been reset: it says nothing about this transaction)
        last = max(int(t.get("lastMeterWh") or 0), int(t["meterStart"]))
        if bay.energy_wh is not None and bay.energy_wh >= int(t["meterStart"]):
            last = max(last, bay.energy_wh)
        tx = Tx(int(t["transactionId"]), str(t["idTag"]), int(t["meterStart"]), str(t["timestamp"]),
                last_wh=last, raw_last=None, station_id=t.get("stationTransactionId"),
                seq=int(t.get("nextSeqNo") or 0))
        async with cp.lock:
            adopt = bay.tx is None and bay.outlet in (Outlet.CHARGING, Outlet.IDLE)
            if adopt:
                if bay.energy_wh is not None:
                    tx.observe(bay.energy_wh)
                bay.tx, bay.finishing, bay.off_polls = tx, False, 0
                await cp.store.save(cp.identity, tx)
        if adopt:
            log.warning("%s: the CSMS holds transaction %d open and the outlet is on: adopted "
                        "(this bridge had no state for the bay)", cp.identity, tx.id)
            cp.start_metering()
            continue
        log.warning("%s: the CSMS holds transaction %d open but the outlet is off: stopped at "
                    "%d Wh (this bridge had no state for the bay)", cp.identity, tx.id, last)
        seq = await cp.outbox.put(*cp.stop_message(tx, last, "Reboot"))
        with contextlib.suppress(CallRefused):  # before the bay's first status, when it can
            await cp.outbox.result(seq)

