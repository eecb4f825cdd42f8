"""Runtime settings, read from the environment with the ``CHARGEBAY_`` prefix (and ``.env``)."""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.outbound import AllowList
from common.proxies import parse_networks

MIN_API_TOKEN = 32  # characters: the generated tokens have 46


class UnknownChargePoints(StrEnum):
    """What the central system does with a charge point id it has never seen."""

    accept = "accept"
    pending = "pending"
    reject = "reject"


class Role(StrEnum):
    """What one ``serve`` process runs (see docs/scaling.md)."""

    all = "all"
    ocpp = "ocpp"
    api = "api"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


# Where versions before the data directory kept their state: relative to the working directory.
EARLIER_STATE = ("var/chargebay.db", "var/bridge-outbox.db")


def earlier_state(data_dir: Path, cwd: Path | None = None) -> list[Path]:
    """State files an earlier version left in ``./var`` that this run, keeping its state in
    ``data_dir``, would not see: a database, or a bridge state file holding unsent transaction
    messages. Starting on empty state beside them without a word would strand them."""
    here = (cwd or Path.cwd()).absolute()
    found = [here / name for name in EARLIER_STATE if (here / name).exists()]
    return [path for path in found if path.parent != data_dir.absolute()]


def warn_of_earlier_state(settings: Settings, log: logging.Logger) -> None:
    """Log each file of :func:`earlier_state` (a database only if this run's is the default one)."""
    data_dir = settings.data_dir
    own_db = settings.database_url.endswith(str(data_dir / "chargebay.db"))
    for path in earlier_state(data_dir):
        if path.name == "chargebay.db" and not own_db:
            continue
        log.warning("%s is state from an earlier version, which kept it in ./var; this run keeps "
                    "its state in %s. To go on with it, set CHARGEBAY_DATA_DIR=%s (or move the "
                    "file there); until then it is not used", path, data_dir, path.parent)


def default_data_dir() -> Path:
    """Where state lives unless CHARGEBAY_DATA_DIR says otherwise: the user's state directory
    (XDG), absolute, so a process started from another working directory finds the same state."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).absolute() / "chargebay"


class Settings(BaseSettings):
    """Every knob of the stack; each field maps to ``CHARGEBAY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CHARGEBAY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description=(
        "Where the stack keeps its state: the SQLite database (unless database_url says "
        "otherwise), the simulator's queues, the locker bridge's state file. Made absolute at "
        "start: the same state whatever the working directory."))
    database_url: str = Field(default="", description=(
        "SQLAlchemy async URL; default: SQLite file chargebay.db in data_dir."))
    host: str = "127.0.0.1"
    ws_port: int = 9000
    http_port: int = 8000
    api_token: str | None = Field(
        default=None,
        description=(f"Bootstrap admin bearer token (at least {MIN_API_TOKEN} characters); "
                     "generated and printed once when unset."),
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description=(
        "Largest REST request body: a larger Content-Length is refused (413) before anything is "
        "read, a streamed body is cut off once it grows past it. The largest legitimate body, a "
        "bulk of 10,000 simulated chargers, is about 2 MB."))
    trusted_proxies: str = Field(default="", description=(
        "Comma-separated addresses or CIDR networks of the reverse proxies in front of this node; "
        "only a peer among them may name the client in X-Forwarded-For. Empty: the header is "
        "ignored."))
    auth_window: float = Field(default=300.0, gt=0, description=(
        "Seconds a failed bearer token or charge point password counts against its limits."))
    token_failures_per_ip: int = Field(default=20, ge=1, description=(
        "Bearer tokens matching none issued from one address (an IPv6 /64) within auth_window; "
        "then 429 for any token not accepted within token_remembered_for (expired or revoked "
        "ones are not counted)."))
    token_remembered_for: float = Field(default=86400.0, gt=0, description=(
        "Seconds a token accepted once keeps passing an address's guess limit, so the clients "
        "behind an address shared with a guesser (a NAT, an office) go on: those that used their "
        "token within this time. Held in memory by each API process: a restart forgets it."))
    cp_password_failures_per_id: int = Field(default=10, ge=1, description=(
        "Wrong Basic-auth passwords for one charge point id within auth_window; then 429 at the "
        "handshake (except from an address the charge point has logged in from before)."))
    cp_password_failures_per_ip: int = Field(default=100, ge=1, description=(
        "Wrong Basic-auth passwords from one address within auth_window; then 429 at the "
        "handshake (except for a charge point that has logged in from that address before)."))
    password_checks: int = Field(default=0, ge=0, description=(
        "scrypt checks at once (charge point passwords, logins); 0: one less than the CPU cores, "
        "at least one, so guessers cannot take every core."))
    unknown_charge_points: UnknownChargePoints = UnknownChargePoints.accept
    accept_unknown_id_tags: bool = False
    heartbeat_interval: int = Field(default=300, description="Interval (s) told to charge points at boot.")
    base_report_on_boot: Literal["", "ConfigurationInventory", "FullInventory", "SummaryInventory"] = Field(
        default="", description=(
            "OCPP 2.0.1: the GetBaseReport sent to a station accepted at boot whose device model "
            "is not stored yet (its first boot, or until it reported); empty: none."))
    ping_interval: float = Field(default=60.0, description="Websocket ping interval and timeout (s).")
    max_frame_bytes: int = Field(default=64 * 1024, description="Larger frames close the socket (1009).")
    durable_answers: bool = Field(default=True, description=(
        "Answer a frame only once its message-log row is committed, so a node killed at any "
        "moment has logged everything it answered (off: answers go at once, the log of the last "
        "few milliseconds at risk; no faster since answers are sent by the store's writer)."))
    call_timeout: float = Field(default=30.0, description="Default wait for a charge point's answer (s).")
    load_period: float = Field(default=1.0, gt=0, description=(
        "Load management: the least time between two reallocations of the load groups' shares (s); "
        "the starts, stops and draws of a period are one reallocation."))
    load_lease: float = Field(default=300.0, ge=10, description=(
        "Load management: how long a session's share (a TxProfile's validTo) holds unless renewed "
        "(s). Should the central system go away, a running session keeps its share this long, "
        "then its member's failsafe; renewals are sent every half lease."))
    stale_transaction_after: float = Field(default=86400.0, ge=0, description=(
        "Seconds after which an open transaction nothing was heard of (no meter value) is ended "
        "as stale, unless its charge point is online and reports the connector charging; stale "
        "ones no longer count for ConcurrentTx (0: never)."))
    stuck_transaction_after: float = Field(default=1800.0, gt=0, description=(
        "Seconds without a meter value after which an open transaction is listed as stuck (the "
        "dashboard's problems, the alert rule); it stays open: see stale_transaction_after."))
    stale_sweep_interval: float = Field(default=300.0, gt=0, description=(
        "Seconds between two sweeps for stale transactions."))
    message_retention_days: float = Field(default=30.0, ge=0, description=(
        "Days the message log keeps a frame; older ones are pruned in the background (0: kept "
        "forever)."))
    message_prune_interval: float = Field(default=3600.0, gt=0, description=(
        "Seconds between two prunings of the message log (the first one minute after start, or "
        "sooner with a shorter interval)."))
    rejected_frames_per_minute: int = Field(default=300, ge=0, description=(
        "Rejected frames (answered with a CALLERROR, or answers to no call) the message log keeps "
        "per charge point and minute; the rest are answered and counted, not stored, and a "
        "connection that never sent a valid call or answer is closed with 1008 then (0: no limit)."))
    rejected_frame_keep: int = Field(default=1024, ge=0, description=(
        "Characters the message log keeps of a longer rejected frame, followed by its original "
        "size (0: the whole frame)."))
    tls_cert: Path | None = Field(default=None, description=(
        "PEM certificate (and chain) of the websocket port: wss:// (security profiles 2 and 3). "
        "Reloaded with the key and the client CA on SIGHUP or POST /api/v1/system/tls/reload."))
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    tls_rsa_cert: Path | None = Field(default=None, description=(
        "A second server certificate, with an RSA key, beside an ECDSA tls_cert: both served, "
        "so charge points that offer only the whitepaper's RSA suites (AES128/256-GCM with RSA "
        "key exchange, ECDHE-RSA) connect too. Reloaded with tls_cert."))
    tls_rsa_key: Path | None = Field(default=None, description="PEM private key of tls_rsa_cert.")
    tls_client_ca: Path | None = Field(default=None, description=(
        "PEM bundle of the CA(s) charge point client certificates must chain to: security "
        "profile 3 (mutual TLS; the certificate's subject CN must be the charge point id)."))
    ca_cert: Path | None = Field(default=None, description=(
        "The central system's CA certificate, which signs charge point CSRs (SignCertificate); "
        "default: data_dir/ca/ca.pem, made by `chargebay ca init`. No CA: CSRs are kept for an "
        "operator."))
    ca_key: Path | None = Field(default=None, description="The CA's private key (default: data_dir/ca/ca.key).")
    certificate_days: int = Field(default=365, ge=1, description=(
        "Days a charge point certificate the CA signs is valid (at most as long as the CA)."))
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.text
    node_id: str = "node-1"
    redis_url: str | None = Field(default=None, description=(
        "redis://HOST:PORT/DB: several nodes share connection routing and events; unset, one "
        "process does it all in memory."))
    registry_ttl: float = Field(default=30.0, description=(
        "Seconds a dead node's charge points stay routed to it (cluster only)."))
    role: Role = Field(default=Role.all, description=(
        "all: websockets and REST; ocpp: websockets only (GET /health and /metrics on the "
        "websocket port); api: REST only, stateless (needs redis_url to reach charge points)."))
    ocpp_url: str | None = Field(default=None, description=(
        "Where the simulator and an embedded bridge connect (default: this process's websocket "
        "port; set it to the load balancer in an api-only node)."))
    outbound_allow: str = Field(default="", description=(
        "Comma-separated host names, addresses or CIDRs that command callbacks and simulated "
        "chargers' csms_url may reach although they are loopback, private, link-local or "
        "otherwise non-public (refused by default; this stack's own OCPP URL is always allowed)."))
    webhook_attempts: int = Field(default=5, ge=1, le=20, description=(
        "Attempts to deliver one event to a webhook (the first and the retries)."))
    webhook_backoff: float = Field(default=2.0, gt=0, le=300, description=(
        "Seconds before a webhook's first retry; each next one waits twice as long, at most 300 s."))
    webhook_timeout: float = Field(default=10.0, gt=0, le=60, description=(
        "Seconds one webhook delivery attempt may take (connect and answer)."))
    alert_interval: float = Field(default=30.0, ge=0, le=3600, description=(
        "Seconds between two evaluations of the alert rules (csms.alerts; 0: never on a schedule)."))
    smtp_host: str | None = Field(default=None, description=(
        "SMTP server the alert e-mails are sent through (unset: no e-mail, logged once)."))
    smtp_port: int = Field(default=587, ge=1, le=65535, description=(
        "Its port: 587 with STARTTLS, 465 for TLS from the first byte, 25 plain."))
    smtp_username: str | None = Field(default=None, description="Login at the SMTP server, if it wants one.")
    smtp_password: str | None = Field(default=None, description="Password of smtp_username.")
    smtp_from: str = Field(default="chargebay@localhost", max_length=200, description=(
        "The From address of the alert e-mails."))
    smtp_starttls: bool = Field(default=True, description=(
        "Upgrade the SMTP connection with STARTTLS before logging in (not on port 465, TLS already)."))
    demo: bool = Field(default=False, description="Start three simulated chargers (make run does).")
    sim_workers: int = Field(default=0, description="Simulator worker processes (0: one per core).")
    sim_state_dir: Path | None = Field(default=None, description=(
        "Simulator queues and state (default: data_dir/sim)."))
    bridge_config: Path | None = Field(default=None, description="Locker bridge YAML; runs the bridge.")

    @field_validator("api_token")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) < MIN_API_TOKEN:
            raise ValueError(
                f"must be at least {MIN_API_TOKEN} characters (it has {len(value)}): a short token "
                "can be guessed; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
                "makes a good one")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        return ",".join(str(net) for net in parse_networks(value))

    @field_validator("outbound_allow")
    @classmethod
    def _allow_list_parses(cls, value: str) -> str:
        AllowList.parse(value)  # a typo stops the process at start, naming the entry
        return value

    @model_validator(mode="after")
    def _placed(self) -> Settings:
        """Everything relative is placed in the (absolute) data directory."""
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'chargebay.db'}"
        self.ca_cert = self.ca_cert or self.data_dir / "ca" / "ca.pem"
        self.ca_key = self.ca_key or self.data_dir / "ca" / "ca.key"
        if self.sim_state_dir is None:
            self.sim_state_dir = self.data_dir / "sim"
        elif not self.sim_state_dir.is_absolute():
            self.sim_state_dir = self.data_dir / self.sim_state_dir
        return self

    @property
    def sim_dir(self) -> Path:
        assert self.sim_state_dir is not None  # placed by the validator
        return self.sim_state_dir


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
