"""Charge point bodies: registration requests, the registry's rows, status history, message log."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp

Registration = Literal["Accepted", "Pending", "Rejected"]
PASSWORD = Field(None, min_length=16, max_length=40,
                 description="HTTP Basic auth password (OCPP security profile 1, 16-40 characters); "
                             "null removes it.")


class ChargePointCreate(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="The chargePointId in the OCPP URL.")
    registration_status: Registration = "Accepted"
    password: str | None = PASSWORD

    model_config = {"json_schema_extra": {"examples": [
        {"id": "CP-0001", "registration_status": "Accepted", "password": "s3cret-s3cret-s3cret"}]}}


class ChargePointUpdate(BaseModel):
    registration_status: Registration | None = None
    password: str | None = PASSWORD
    security_profile: Literal[0, 1, 2, 3] | None = Field(None, description=(
        "The OCPP security profile it must connect at from now on: 0 none, 1 Basic auth, 2 TLS "
        "and Basic auth, 3 TLS with a client certificate (CN: its id). Set here when the charge "
        "point is configured by hand; POST .../security-profile raises it over OCPP."))
    ocpp_version: Literal["1.6", "2.0.1"] | None = Field(None, description=(
        "The OCPP version it must connect with from its next connect (a connect offering only the "
        "other is refused); null: the newest both sides speak (2.0.1, then 1.6)."))

    model_config = {"json_schema_extra": {"examples": [
        {"registration_status": "Accepted"}, {"password": "rotated-password-0001"},
        {"security_profile": 2}, {"ocpp_version": "1.6"}]}}


class StatusReport(BaseModel):
    """What the latest StatusNotification said about a connector."""

    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    timestamp: Timestamp | None


class ConnectorOut(StatusReport):
    """A connector's current state (0: the charge point as a whole)."""

    connector_id: int
    updated_at: Timestamp


class VariableOut(BaseModel):
    """One variable attribute of a 2.0.1 station's device model ('' / 0: the part is absent)."""

    component: str
    component_instance: str
    evse_id: int
    connector_id: int
    variable: str
    variable_instance: str
    attribute_type: str = Field(description="Actual, Target, MinSet or MaxSet.")
    value: str | None
    mutability: str | None = Field(description="ReadOnly, WriteOnly or ReadWrite (as reported).")
    data_type: str | None
    unit: str | None
    source: str = Field(description="What it was last learnt from: NotifyReport, GetVariables or SetVariables.")
    updated_at: Timestamp


class Variables(BaseModel):
    charge_point_id: str
    items: list[VariableOut]


class EvseConnectorOut(BaseModel):
    connector_id: int
    status: str
    timestamp: Timestamp | None
    updated_at: Timestamp


class EvseOut(BaseModel):
    evse_id: int
    connectors: list[EvseConnectorOut]


class ChargePointOut(BaseModel):
    """A charge point as registered, with what its BootNotification and connection say."""

    id: str
    registration_status: str
    vendor: str | None
    model: str | None
    charge_point_serial: str | None
    charge_box_serial: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial: str | None
    boot_status: str | None
    last_boot_at: Timestamp | None
    firmware_status: str | None
    diagnostics_status: str | None
    online: bool
    node_id: str | None
    last_seen: Timestamp | None
    created_at: Timestamp
    has_password: bool
    password_unsettled: bool = Field(False, description=(
        "A new password was sent (AuthorizationKey) and never answered: the old and the new one "
        "both get in until it connects with one of them."))
    security_profile: int = Field(description="The security profile it must connect at (0-3).")
    security_profile_pending: int | None = Field(description=(
        "A higher profile it accepted over OCPP; its first connect at it makes it its own."))
    local_list_version: int | None = Field(description="The local list version it accepted last.")
    ocpp_version: str | None = Field(None, description="The OCPP version its last connection spoke.")
    ocpp_version_pinned: str | None = Field(None, description="The version it must connect with (null: any).")
    connectors: list[ConnectorOut] = Field(
        default_factory=list, description="In a list only with `connectors=true`.")
    evses: list[EvseOut] = Field(default_factory=list, description=(
        "OCPP 2.0.1: its EVSEs and their connectors as its StatusNotifications reported them "
        "(`connectors` shows each EVSE's latest status by EVSE id)."))


class Registered(BaseModel):
    id: str
    registration_status: Registration


class StatusChange(StatusReport):
    id: int
    charge_point_id: str
    connector_id: int
    received_at: Timestamp


class MessageOut(BaseModel):
    """One OCPP frame, in or out, exactly as it crossed the wire."""

    id: int
    charge_point_id: str
    ts: Timestamp
    direction: str = Field(description="in or out.")
    message_type: int = Field(description="2 CALL, 3 CALLRESULT, 4 CALLERROR.")
    message_id: str | None
    action: str | None
    frame: str
