"""Prometheus metrics of the central system (served at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTED = Gauge("chargebay_connected_charge_points", "Charge points with an open websocket")
MESSAGES = Counter(
    "chargebay_ocpp_messages_total", "OCPP frames by action and direction", ["action", "direction"]
)
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
