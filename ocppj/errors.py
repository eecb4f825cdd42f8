"""CALLERROR codes: one name per kind of fault, spelled as each OCPP-J version spells it.

Why a table and not string literals: OCPP-J 1.6 and 2.0.1 disagree on spelling (1.6 says
``FormationViolation`` and ``OccurenceConstraintViolation``, 2.0.1 ``FormatViolation`` and
``OccurrenceConstraintViolation``) and 2.0.1 adds codes 1.6 lacks (``RpcFrameworkError``,
``MessageTypeNotSupported``). Code that answers a fault names its kind; the connection's version
says how it is written on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """How one version spells each kind of fault the OCPP-J core can answer."""

    rpc_framework: str  # the frame is no RPC message at all (not JSON, not an array, no id)
    format: str  # a payload that is syntactically wrong (not an object, no such schema)
    message_type: str  # a message type id that is not 2, 3 or 4
    protocol: str  # a valid frame at the wrong time (a message id used twice)
    occurrence: str  # a required field missing, too many or too few items
    type_constraint: str  # a field of the wrong JSON type
    property_constraint: str  # a value out of its range, enum, length or format
    not_implemented: str  # an action this side does not know
    not_supported: str  # an action this side knows but never receives
    internal: str  # the receiver failed while handling a valid call
    security: str
    generic: str


V16_ERRORS = ErrorCodes(
    rpc_framework="FormationViolation",
    format="FormationViolation",
    message_type="ProtocolError",
    protocol="ProtocolError",
    occurrence="OccurenceConstraintViolation",  # sic: OCPP-J 1.6, section 4.2.3
    type_constraint="TypeConstraintViolation",
    property_constraint="PropertyConstraintViolation",
    not_implemented="NotImplemented",
    not_supported="NotSupported",
    internal="InternalError",
    security="SecurityError",
    generic="GenericError",
)

# OCPP-J 2.0.1 renamed four of them (and spells Occurrence right)
V201_ERRORS = replace(
    V16_ERRORS,
    rpc_framework="RpcFrameworkError",
    format="FormatViolation",
    message_type="MessageTypeNotSupported",
    occurrence="OccurrenceConstraintViolation",
)
