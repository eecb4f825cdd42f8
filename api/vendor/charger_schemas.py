"""The simulator API's bodies: what a charger definition is, a runtime's answers in the vendor's
shape (seed 001), and the state of many stations at once for the dashboard (issue #21)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChargerShape(BaseModel):
    """What a charger is made of, but its identity: one create's, and a batch's from a template."""

    ocpp_version: Literal["OCPP1.6", "OCPP2.0.1"] = Field("OCPP1.6", description=(
        "The version the simulated station speaks (OCPP2.0.1: a 2.0.1 station with its device model)."))
    csms_url: str | None = Field(None, description=(
        "ws or wss; default: this stack's own CSMS (always allowed). A loopback, private, "
        "link-local or metadata address is refused (422 AddressNotAllowed) unless "
        "CHARGEBAY_OUTBOUND_ALLOW names it."))
    template: str = Field("ac-wallbox", description="A shipped template or a file path.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Template fields to override.")
    atg: bool = Field(False, description="Run the automatic transaction generator.")


class ChargerCreate(ChargerShape):
    identity: str = Field(min_length=1, max_length=48, pattern=r"^[!-~]+$")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"identity": "CP-1", "ocpp_version": "OCPP1.6", "csms_url": "ws://127.0.0.1:9000/ocpp",
         "template": "ac-wallbox"}]})


class ChargerUpdate(BaseModel):
    csms_url: str | None = Field(None, description="As at create: checked again (422 AddressNotAllowed).")
    template: str | None = None
    overrides: dict[str, Any] | None = None
    atg: bool | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"template": "dc-fast", "atg": True}]})


class BulkCreate(BaseModel):
    chargers: list[ChargerCreate] = Field(min_length=1, max_length=10000)

    model_config = ConfigDict(json_schema_extra={"examples": [{"chargers": [
        {"identity": "CP-1", "template": "ac-wallbox"}, {"identity": "CP-2", "template": "dc-fast"}]}]})


class BulkIds(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=10000, description="Charger ids.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["2b1f…", "7c9e…"]}]})


class Charger(BaseModel):
    """A simulated charger's durable definition."""

    id: str
    identity: str
    ocpp_version: str
    csms_url: str | None = Field(description="null: this stack's own CSMS.")
    template: str
    overrides: dict[str, Any]
    desired_state: str = Field(description="running or stopped: what a restart of the stack resumes.")
    atg: bool
    created_at: str = Field(description="ISO 8601, UTC (Z).")
    updated_at: str = Field(description="ISO 8601, UTC (Z).")


Status = Literal["PENDING", "PROVISIONING", "CONNECTED", "STOPPED", "PROVISIONED"]
ConnectorStatus = Literal["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
                          "Finishing", "Reserved", "Unavailable", "Faulted"]


class ConnectorState(BaseModel):
    """One connector of a running station, as the station itself has it."""

    connector_id: int
    status: str = Field(description="Its OCPP 1.6 status (a 2.0.1 station's, in the same words).")
    error_code: str
    plugged: bool
    transaction_id: int | str | None = Field(description="The running transaction's (a 2.0.1 station's own id).")

    model_config = ConfigDict(extra="allow")


class StationState(BaseModel):
    """A station's snapshot: the fields named here, and its counters."""

    running: bool = Field(description="Its task runs (false: stopped, or it refused to run).")
    connected: bool
    booted: bool
    atg: bool = Field(description="Its automatic transaction generator runs now.")
    connectors: list[ConnectorState]

    model_config = ConfigDict(extra="allow")


class ListedCharger(Charger):
    status: Status | None = Field(None, description=(
        "With runtime=true or a state filter: as its provisioning says; otherwise null."))
    runtime: StationState | None = Field(None, description=(
        "With runtime=true or a state filter: the station's snapshot; null when it never ran "
        "(or was not asked for)."))


class Templates(BaseModel):
    templates: list[str]


class Created(BaseModel):
    identity: str
    ok: Literal[True]
    charger: Charger


class NotCreated(BaseModel):
    identity: str
    ok: Literal[False]
    code: str = Field(description="As the single create answers it (ChargerExists, InvalidTemplate, …).")
    message: str


class BulkCreated(BaseModel):
    results: list[Created | NotCreated] = Field(description="One per charger, in the order given.")


class RuntimePayload(BaseModel):
    provider: str = Field(description="Where the station runs: ours (`local`, in this process), "
                          "not the vendor's cloud, so not its `aws`.")
    runtime_kind: str
    service_name: str = Field(description="The charger's id, as the vendor names its service.")
    desired_count: Literal[0, 1] = Field(description="1: running (start, restart); 0: stopped.")
    status: Literal["ACTIVE"] = Field(description=(
        "The runtime service's own state, as the vendor answers it: `ACTIVE` while the charger "
        "is defined, stopped or not (`desired_count` says which)."))


class RuntimeEvent(BaseModel):
    """The vendor doc's answer to a start, stop or restart."""

    id: str
    event_type: Literal["start_charger", "stop_charger", "restart_charger"]
    ocpp_version: str
    payload: RuntimePayload


class RuntimeDone(BaseModel):
    id: str
    ok: Literal[True]
    event_type: Literal["start_charger", "stop_charger", "restart_charger"]
    ocpp_version: str
    payload: RuntimePayload


class RuntimeFailed(BaseModel):
    id: str
    ok: Literal[False]
    code: str
    message: str


class BulkRuntime(BaseModel):
    results: list[RuntimeDone | RuntimeFailed] = Field(description="One per charger, in the order given.")


class Provisioning(BaseModel):
    id: str
    identity: str
    status: Status
    desired_state: str
    runtime: dict[str, Any] | None = Field(description="The running station's snapshot; null: not running.")


class ChargerLogEntry(BaseModel):
    ts: str
    kind: str
    text: str


class Logs(BaseModel):
    total: int
    items: list[ChargerLogEntry] = Field(description="Newest first.")
    page: int
    page_size: int


class Controlled(BaseModel):
    result: Any = Field(description="What the action gave (null for most).")
    station: dict[str, Any] = Field(description="The station's snapshot after it.")


class FromTemplate(ChargerShape):
    """N chargers of one template, their identities a prefix and a number."""

    prefix: str = Field(min_length=1, max_length=40, pattern=r"^[!-~]+$", description=(
        "Each identity is the prefix and a number: `QA-` gives QA-001, QA-002, …"))
    count: int = Field(ge=1, le=10000, description="How many.")
    first: int = Field(1, ge=0, le=9_999_999, description="The first number.")
    digits: int = Field(3, ge=1, le=7, description="Numbers are zero-padded to this many digits.")
    start: bool = Field(False, description="Start every runtime once all are made (as start-charger).")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"template": "ac-wallbox", "prefix": "QA-", "count": 3, "atg": True}]})

    def identities(self) -> list[str]:
        # a prefix of 40 and a number of at most 8 digits: each fits an identity's 48 characters
        return [f"{self.prefix}{n:0{self.digits}d}" for n in range(self.first, self.first + self.count)]


class BatchCreated(BaseModel):
    items: list[Charger] = Field(description="The chargers made, in the order of their numbers.")
    started: bool = Field(description="Their runtimes were started (desired_state running).")


class AtgSwitch(BulkIds):
    enabled: bool = Field(description="true: the generator runs (plugs in, charges, leaves); false: it stops.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["2b1f…", "7c9e…"], "enabled": True}]})


class AtgSet(BaseModel):
    id: str
    ok: Literal[True]
    atg: bool
    applied: bool = Field(description="true: the station runs and switched at once; false: kept for its next start.")


class AtgResults(BaseModel):
    results: list[AtgSet | RuntimeFailed] = Field(description="One per charger, in the order given.")
