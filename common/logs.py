"""Logging set-up: readable lines by default, one JSON object per line with LOG_FORMAT=json."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Renders a record and its ``extra=`` fields as one JSON line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The ocpp library logs every frame at INFO, which costs time on the hot path.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # two INFO lines per run of every scheduled job (the message index every 10 s, the alert
    # rules every 30 s): 16 a minute on an idle stack pushed the start-up banner off the screen
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # a line per webhook delivery: they are recorded with their outcome, failures logged (csms.webhooks)
    logging.getLogger("httpx").setLevel(logging.WARNING)
