"""The network page's bodies: the fleet's totals and its problems (csms.queries.network)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Timestamp
from csms.queries.network import ProblemKind


class ChargePointCounts(BaseModel):
    total: int
    online: int
    offline: int


class ProblemCounts(BaseModel):
    faulted: int = Field(description="Connectors Faulted on online charge points.")
    offline: int = Field(description="Charge points offline that were once connected.")
    boot_rejected: int = Field(description="Charge points whose last boot was Rejected.")
    stuck_transaction: int = Field(description="Open sessions without a meter value for "
                                               "`stuck_transaction_after` seconds.")


class NetworkSummary(BaseModel):
    """Totals of the **online** part of the network (an offline charge point's last status may
    be hours old), and offline charge points counted apart."""

    charge_points: ChargePointCounts
    connectors: dict[str, int] = Field(description="Connectors (not the charge point as a whole, "
                                                   "connector 0) of online charge points, by status.")
    charging: int = Field(description="Connectors Charging on online charge points (1.6), and sessions whose "
                                      "latest chargingState is Charging (2.0.1, whose connectors say Occupied).")
    faulted: int = Field(description="Connectors Faulted on online charge points.")
    sessions_open: int = Field(description="Open transactions on online charge points.")
    power_kw: float = Field(description="Their draw now: the sum of each one's latest power sample, or, "
                                        "for one that reports its energy register alone, the register's rise "
                                        "between its last two readings.")
    sessions_without_power: int = Field(description="Open sessions counted in `sessions_open` with no draw "
                                                    "known yet (no power sample, fewer than two register "
                                                    "readings): `power_kw` leaves them out.")
    energy_since: Timestamp = Field(description="The start of the energy figure (`since`).")
    energy_kwh: float = Field(description="Energy of the sessions started since then (to their stop, "
                                          "or their latest energy register while open).")
    problems: ProblemCounts


class Problem(BaseModel):
    kind: ProblemKind
    charge_point_id: str
    connector_id: int | None
    transaction_id: int | None
    since: Timestamp | None = Field(description="Since when: the fault's report, the last time the "
                                                "charge point was seen, its boot, the session's last "
                                                "meter value.")
    detail: str | None = Field(description="The error code of a fault, the vendor of a rejected "
                                           "boot, the id tag of a stuck session.")
