"""A simulated OCPP 1.6J charge point: the station's state and behaviour on the shared client.

:class:`Station` is what the fleet, the runtime API and the tests create. Its parts, each a
module of its own: the state and the life with the CSMS (:mod:`charger_sim.core`), transactions
and the driver's actions (:mod:`charger_sim.transactions`), and what it answers
(:mod:`charger_sim.handlers`, :mod:`charger_sim.management`), all over :mod:`chargepoint`.
"""

from __future__ import annotations

from typing import Any

from chargepoint.errors import Offline
from chargepoint.times import iso
from charger_sim import handlers, management
from charger_sim.core import TX_ACTIONS
from charger_sim.template import Template
from charger_sim.transactions import StationTransactions

__all__ = ["TX_ACTIONS", "Offline", "Station", "iso", "new_station"]


class Station(StationTransactions):
    """A station answering every CSMS-initiated OCPP 1.6 action sensibly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        handlers.register(self, self.handlers)
        management.register(self, self.handlers)


def new_station(identity: str, template: Template, *args: Any, **kwargs: Any) -> StationTransactions:
    """A station of the version its template says: :class:`Station` (1.6) or
    :class:`~charger_sim.station201.Station201` (2.0.1)."""
    from charger_sim.station201 import Station201  # 2.0.1 builds on this module's parts

    kind = Station201 if template.ocpp_version == "2.0.1" else Station
    return kind(identity, template, *args, **kwargs)
