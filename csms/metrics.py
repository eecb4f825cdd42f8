"""Prometheus metrics of the central system (served at GET /metrics)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class FrameCounts(Collector):
    """OCPP frames by action and direction: plain integers, read when /metrics is scraped.

    Why not a labelled Counter: its ``inc()`` takes a lock, and two of them per call were ~2 %
    of the event loop under load (py-spy, issue #18). Only the event loop counts frames, so a
    dict of ints is exact. Which actions get a label is the caller's business (names the
    version knows: a peer cannot grow the label set).
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self._created: dict[tuple[str, str], float] = {}  # the ``_created`` series a Counter has

    def add(self, action: str, direction: str) -> None:
        key = (action, direction)
        counts = self.counts
        count = counts.get(key)
        if count is None:
            self._created[key] = time.time()
            count = 0
        counts[key] = count + 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("chargebay_ocpp_messages",
                                     "OCPP frames by action and direction", labels=["action", "direction"])
        for (action, direction), count in list(self.counts.items()):
            family.add_metric([action, direction], count, created=self._created.get((action, direction)))
        yield family


CONNECTED = Gauge("chargebay_connected_charge_points", "Charge points with an open websocket")
MESSAGES = FrameCounts()
REGISTRY.register(MESSAGES)
CALL_ERRORS = Counter("chargebay_ocpp_callerrors_total", "CALLERRORs sent or received by code",
                      ["code", "direction"])
CALL_ROUND_TRIP = Histogram(
    "chargebay_outbound_call_seconds", "Round trip of calls the central system sends", ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STORE_WRITE_SECONDS = Histogram(
    "chargebay_store_write_seconds", "Time to commit one batch of writes",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
STORE_BATCH_ROWS = Histogram(
    "chargebay_store_batch_items", "Writes committed together in one batch",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
REJECTED_FRAMES = Counter(
    "chargebay_ocpp_rejected_frames_total",
    "Inbound frames refused (a CALLERROR, or an answer to no call), by what the message log kept: "
    "full, truncated, or none (over the charge point's budget)", ["stored"],
)
REJECTED_CLOSES = Counter(
    "chargebay_ocpp_rejected_closes_total",
    "Connections closed with 1008 for sending nothing but rejected frames past their budget",
)
MESSAGES_PRUNED = Counter(
    "chargebay_messages_pruned_total", "Message-log rows deleted for being past their retention",
)


class FleetGauges(Collector):
    """The gauges read from the store when /metrics is scraped (:mod:`csms.exposition` sets
    them just before each exposition): kept here as ready families, so collecting costs nothing
    and a failed read leaves them out rather than showing stale figures as live."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


FLEET = FleetGauges()
REGISTRY.register(FLEET)
