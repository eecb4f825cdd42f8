"""Bodies of the security and reservation resources: profiles, passwords, events, certificates,
reservations and local lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import Timestamp
from csms.services.commands import CommandRun

Profile = Literal[0, 1, 2, 3]
IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]


class CommandSummary(BaseModel):
    """One command a resource call sent, and how it ended (``outcome`` null: not waited for)."""

    command_id: str
    outcome: Literal["result", "call_error", "timeout", "offline"] | None
    response: Any = Field(None, description="The charge point's answer, when it answered.")
    error_code: str | None = None


class ProfileUpgrade(BaseModel):
    profile: Profile = Field(description="The security profile to raise it to (above its current one).")
    reset: Literal["Hard", "Soft"] = Field("Hard", description="The Reset that makes it reconnect.")

    model_config = {"json_schema_extra": {"examples": [{"profile": 3}]}}


class ProfileUpgraded(BaseModel):
    """What was sent. The profile takes effect at its first connect at it (until then it may
    still connect at its old one); ``reset`` is null when the change was not accepted."""

    profile: int
    pending: bool = Field(description="The charge point accepted it: its next connect at the profile makes it its own.")
    change_configuration: CommandSummary
    reset: CommandSummary | None


class PasswordChange(BaseModel):
    password: str | None = Field(None, description=(
        "OCPP 1.6: 16-20 bytes (UTF-8), sent as the hex AuthorizationKey; left out: 20 random "
        "bytes. OCPP 2.0.1: 16-40 characters, sent as SecurityCtrlr.BasicAuthPassword as they are; "
        "left out: 40 random hex digits."))

    model_config = {"json_schema_extra": {"examples": [{}, {"password": "my-new-password-01"}]}}


class PasswordChanged(BaseModel):
    authorization_key: str = Field(description=(
        "What was sent, shown only here: 1.6's AuthorizationKey (hex), or a 2.0.1 station's "
        "BasicAuthPassword (the password itself)."))
    sent_as: Literal["AuthorizationKey", "BasicAuthPassword"] = Field(
        "AuthorizationKey", description="ChangeConfiguration AuthorizationKey (1.6) or SetVariables "
                                        "SecurityCtrlr.BasicAuthPassword (2.0.1).")
    stored: bool = Field(description="The charge point accepted it and it is its password now; "
                                     "otherwise the old one stays.")
    command: CommandSummary


class SecurityEventOut(BaseModel):
    id: int
    charge_point_id: str
    type: str
    source: str = Field(description="charge_point (SecurityEventNotification) or central_system.")
    tech_info: str | None
    address: str | None = Field(description="Where a refused handshake came from.")
    timestamp: Timestamp
    received_at: Timestamp


class CertificateOut(BaseModel):
    id: int
    charge_point_id: str
    serial: str = Field(description="Hexadecimal.")
    subject: str
    key_type: str
    not_before: Timestamp
    not_after: Timestamp
    status: str = Field(description="Sent, Accepted, Rejected (by the charge point) or Failed (no answer).")
    command_id: str | None
    created_at: Timestamp


class CertificateDetail(CertificateOut):
    certificate: str = Field(description="PEM.")


class ReservationCreate(BaseModel):
    charge_point_id: str
    connector_id: int = Field(ge=0, description="0: any connector of the charge point.")
    id_tag: str = Field(min_length=1, max_length=20)
    expiry_date: datetime
    parent_id_tag: str | None = Field(None, max_length=20, description="Default: the id tag's parent.")
    id_token_type: IdTokenType = Field("ISO14443", description=(
        "OCPP 2.0.1 stations only: the type of the reserved id token (its `connector_id` is the EVSE)."))

    model_config = {"json_schema_extra": {"examples": [
        {"charge_point_id": "CP-0001", "connector_id": 1, "id_tag": "TAG-1",
         "expiry_date": "2026-12-24T18:00:00Z"}]}}


class ReservationOut(BaseModel):
    id: int = Field(description="The reservationId the charge point got.")
    charge_point_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: Timestamp
    status: str = Field(description="Requested, Accepted, Faulted, Occupied, Rejected, Unavailable, "
                                    "Unanswered (timed out: the charge point may hold it; cancellable), "
                                    "Failed (not delivered, a CALLERROR, or an Unanswered one the charge "
                                    "point said it does not hold), Cancelled, Used or Expired; a 2.0.1 station "
                                    "may also report Removed (ReservationStatusUpdate).")
    transaction_id: int | None = Field(description="The transaction that used it.")
    command_id: str | None
    requested_by: str | None
    created_at: Timestamp
    ended_at: Timestamp | None


class ReservationMade(BaseModel):
    reservation: ReservationOut
    command: CommandSummary


class LocalListSend(BaseModel):
    update_type: Literal["Full", "Differential"] = "Differential"
    group: str | None = Field(None, description="Only the id tags whose parent is this id tag.")
    version: int | None = Field(None, ge=1, description="Default: one above the version it holds.")

    model_config = {"json_schema_extra": {"examples": [
        {"update_type": "Full"}, {"update_type": "Differential", "group": "FLEET-A"}]}}


class LocalListSent(BaseModel):
    version: int
    update_type: str
    group: str | None
    entries: int = Field(description="Id tags sent with their idTagInfo.")
    removed: int = Field(description="Id tags sent without (removed from the list).")
    command: CommandSummary


class LocalListEntryOut(BaseModel):
    id_tag: str
    status: str
    expiry_date: Timestamp | None
    parent_id_tag: str | None


class LocalListOut(BaseModel):
    """The list as the charge point accepted it last, as far as this central system sent it."""

    charge_point_id: str
    version: int | None
    entries: list[LocalListEntryOut]


class LocalListVersion(BaseModel):
    expected: int | None = Field(description="The version the central system sent and saw accepted.")
    charge_point: int | None = Field(description="What GetLocalListVersion answered (-1: no list support).")
    in_sync: bool | None
    command: CommandSummary


class TlsLoaded(BaseModel):
    certificate: str = Field(description="The server certificate's subject.")
    not_after: Timestamp
    client_ca: bool = Field(description="Client certificates are checked (security profile 3).")
    loaded_at: Timestamp
    rsa_certificate: str | None = Field(default=None, description=(
        "The second server certificate's subject (its RSA key serves the RSA suites), if any."))


def summary(run: CommandRun) -> CommandSummary:
    """A command run as a resource's answer shows it."""
    outcome = run.outcome
    if outcome is None:
        return CommandSummary(command_id=run.command_id, outcome=None, response=None)
    return CommandSummary(command_id=run.command_id, outcome=outcome.kind, response=outcome.payload,
                          error_code=outcome.error_code)
