"""Transaction bodies: the rows, one with its meter values, and an operator's close."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Timestamp


class TransactionOut(BaseModel):
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    id_tag_status: str
    meter_start: int
    start_timestamp: Timestamp
    reservation_id: int | None
    meter_stop: int | None
    stop_timestamp: Timestamp | None
    start_reason: str | None = Field(None, description=(
        "OCPP 2.0.1: the triggerReason of the event that started it (Authorized, RemoteStart, "
        "CablePluggedIn, ...); 1.6 says none."))
    stop_reason: str | None
    stop_id_tag: str | None
    end_source: str | None = Field(description="charge_point, superseded, rebooted, stale or operator.")
    ended_by: str | None
    end_detail: str | None
    last_activity_at: Timestamp | None
    created_at: Timestamp
    active: bool
    station_transaction_id: str | None = Field(None, description=(
        "OCPP 2.0.1: the station's own transaction id (`id` is ours, as for 1.6)."))
    remote_start_id: int | None = Field(None, description="OCPP 2.0.1: the RequestStartTransaction it answered.")
    id_token: str | None = Field(None, description="OCPP 2.0.1: the id token whole (up to 36 characters).")
    energy_wh: int | None = Field(description="Energy delivered: meter_stop - meter_start once ended; so far "
                                  "(the latest register inside the window) while running.")


class MeterValueOut(BaseModel):
    """One sampledValue."""

    id: int
    connector_id: int
    timestamp: Timestamp
    value: str
    context: str | None
    format: str | None
    measurand: str | None
    phase: str | None
    location: str | None
    unit: str | None
    source: str
    outside_tx: bool | None


class TransactionEventOut(BaseModel):
    """One OCPP 2.0.1 TransactionEvent of the transaction (kept once per seqNo)."""

    seq_no: int
    event_type: str
    trigger_reason: str
    timestamp: Timestamp
    offline: bool
    received_at: Timestamp


class TransactionDetail(TransactionOut):
    meter_values: list[MeterValueOut]
    samples_outside_window: int
    events: list[TransactionEventOut] | None = Field(None, description="OCPP 2.0.1: its TransactionEvents by seqNo.")
    seq_gaps: list[int] | None = Field(None, description=(
        "OCPP 2.0.1: sequence numbers missing between its first and last event (lost, or still to come)."))


class CloseTransaction(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description=(
        "Why the transaction is closed without its charge point's StopTransaction (kept with it)."))
    meter_stop: int | None = Field(None, ge=0, le=2**53, description=(
        "The meter reading (Wh) to close it with; default: the last register known for it."))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "charger replaced; session ended on site", "meter_stop": 12840}]})
