"""GET /metrics (the REST app's and the websocket port's): the counters the central system keeps
as it goes (:mod:`csms.metrics`) and the fleet's gauges, read from the store at each scrape.

Why read at scrape time: the figures (connector statuses, sessions, kW, kWh today) are already
in the store, kept by the handlers as they go; a gauge kept in memory beside them would be a
second truth, wrong after a restart and on a cluster where each node sees only its own sockets.

Which node reports what: the fleet gauges come from the database all nodes share, so every node
reports the same figures — take ``max`` over the nodes, never ``sum``. The counters, histograms
and ``chargebay_connected_charge_points`` are each node's own — ``sum`` them (docs/monitoring.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from common.ratelimit import Throttles
from csms.energy.config import ancestors
from csms.energy.state import Layout
from csms.metrics import FLEET
from csms.queries.gauges import FleetFigures, GaugeQueries, GroupFigures
from csms.timeutil import now_utc
from ocppj.versions import SERVED

log = logging.getLogger(__name__)
READ_TIMEOUT = 5.0  # a store slower than this: the scrape answers without the fleet gauges
FRESH_S = 1.0  # scrapes closer together share one read (several Prometheus, both ports of a node)
UNGROUPED = "none"  # the site of a connector in no load group
UNKNOWN_VERSION = "unknown"  # a row that names no version (every connect records it: none expected)


class Exposition:
    """Renders /metrics; the fleet gauges are read at most once per :data:`FRESH_S`, and
    concurrent scrapes wait for the same read."""

    def __init__(self, queries: GaugeQueries, layout: Callable[[], Layout], throttles: Throttles,
                 now: Callable[[], datetime] = now_utc) -> None:
        self._queries = queries
        self._layout = layout  # the load groups in force (the load manager's, kept in memory)
        self._throttles = throttles
        self._now = now
        self._reading: asyncio.Task[None] | None = None
        self._read_at = -math.inf

    async def render(self) -> bytes:
        """The Prometheus text exposition, fleet gauges fresh."""
        await self.refresh()
        return generate_latest(REGISTRY)

    async def refresh(self) -> None:
        if time.monotonic() - self._read_at < FRESH_S:
            return
        if self._reading is None:
            self._reading = asyncio.create_task(self._read(), name="metrics-read")
            self._reading.add_done_callback(self._read_done)
        await asyncio.shield(self._reading)  # a scraper that hangs up ends no one else's read

    def _read_done(self, _: asyncio.Task[None]) -> None:
        self._reading = None

    async def _read(self) -> None:
        sites = sites_of(self._layout())
        now = self._now()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                figures = await self._queries.read(
                    {group: midnight(now, zone) for group, (_, zone) in sites.items()}, midnight(now, "UTC"))
        except Exception as exc:  # the counters are still worth answering with
            FLEET.families = []
            self._throttles.log("metrics read", log, logging.WARNING,
                                "/metrics answered without the fleet gauges: the store did not answer (%r)", exc)
            return
        finally:
            self._read_at = time.monotonic()
        FLEET.families = families(figures, sites, time.perf_counter() - started)


def sites_of(layout: Layout) -> dict[int, tuple[str, str]]:
    """Each load group's site — the name and time zone of the top-level group it nests in."""
    found = {}
    for group in layout.groups:
        top = layout.groups[ancestors(layout.groups, group)[-1]]
        found[group] = (top.name, top.timezone)
    return found


def midnight(now: datetime, zone: str) -> datetime:
    """The start of ``now``'s day in the time zone ``zone``, in UTC."""
    return now.astimezone(ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@cache
def vocabulary() -> dict[str, tuple[str, ...]]:
    """Each served OCPP version's connector statuses, from its StatusNotification schema: every
    one is exported, 0 when no connector is in it (a series that vanishes is no zero on a graph)."""
    found = {}
    for version in SERVED:
        fields = version.request_schema("StatusNotification")["properties"]
        found[version.name] = tuple((fields.get("status") or fields["connectorStatus"])["enum"])
    return found


def families(figures: FleetFigures, sites: dict[int, tuple[str, str]], seconds: float) -> list[Metric]:
    """The fleet gauges as Prometheus families (see docs/monitoring.md for each)."""
    connectors = GaugeMetricFamily(
        "chargebay_connectors", "Connectors (2.0.1: EVSEs) of online charge points by their last reported "
        "status and the charge point's OCPP version", labels=["ocpp_version", "status"])
    counts = {(version, status): 0 for version, statuses in vocabulary().items() for status in statuses}
    for (version, status), count in figures.statuses.items():
        key = (version or UNKNOWN_VERSION, status)
        counts[key] = counts.get(key, 0) + count
    for (version, status), count in sorted(counts.items()):
        connectors.add_metric([version, status], count)
    per_site = {name: GroupFigures() for name, _ in sites.values()} | {UNGROUPED: GroupFigures()}
    for group, found in figures.groups.items():
        site = per_site[sites[group][0] if group in sites else UNGROUPED]  # a group made since: none yet
        site.sessions_open += found.sessions_open
        site.power_w += found.power_w
        site.energy_today_wh += found.energy_today_wh
    power = GaugeMetricFamily("chargebay_site_power_watts", "Draw now of the open sessions on online charge "
                              "points, by site (top-level load group; none: in no group)", labels=["site"])
    energy = GaugeMetricFamily("chargebay_site_energy_today_wh", "Energy of the sessions started since "
                               "midnight in the site's time zone (UTC for none), in Wh", labels=["site"])
    for name, site in sorted(per_site.items()):
        power.add_metric([name], site.power_w)
        energy.add_metric([name], max(site.energy_today_wh, 0))  # a meter reset reads as less than nothing
    return [
        connectors,
        GaugeMetricFamily("chargebay_charge_points_offline", "Known charge points connected to no node",
                          value=figures.charge_points_offline),
        GaugeMetricFamily("chargebay_sessions_open", "Open transactions on online charge points",
                          value=sum(site.sessions_open for site in per_site.values())),
        power, energy,
        GaugeMetricFamily("chargebay_fleet_gauges_read_seconds", "How long this node's last read of the "
                          "fleet gauges from the store took", value=seconds),
    ]
