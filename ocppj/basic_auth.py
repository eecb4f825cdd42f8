"""HTTP Basic authentication of a charge point (OCPP security profiles 1 and 2), both ends.

The password is binary. OCPP-J 1.6 and the 1.6 security whitepaper carry it in the
``AuthorizationKey`` configuration key as hexadecimal (16 to 20 bytes, 32 to 40 hex digits), while
the ``Authorization`` header of the websocket upgrade carries the bytes it represents
(``Basic base64(id ":" password)``, RFC 7617; the compliance tool's TC_085 checks exactly that).
A key that is not such a hex string is taken as the password's own text (UTF-8): that is how
operators and several tools set it, and how OCPP 2.0.1's BasicAuthPassword is defined.

Charge points in the field do not all decode the key before they use it; :func:`alternatives`
gives the one other reading a central system may try for a header that carries the hex form.
"""

from __future__ import annotations

import base64
import binascii
import string
from typing import Any

MIN_BYTES, MAX_BYTES = 16, 20  # the whitepaper's AuthorizationKey, decoded
MIN_TEXT, MAX_TEXT = 16, 40  # a password given as text
_HEX = frozenset(string.hexdigits)


def is_hex_key(value: str) -> bool:
    """Whether ``value`` is an AuthorizationKey in the whitepaper's hex form (32-40 digits, even)."""
    return (2 * MIN_BYTES <= len(value) <= 2 * MAX_BYTES and len(value) % 2 == 0
            and all(c in _HEX for c in value))


def key_password(value: str) -> bytes:
    """The password an ``AuthorizationKey`` value stands for: the bytes of its hex form, or the
    UTF-8 of any other value. Raises ValueError for one that can be neither (too short or long)."""
    if is_hex_key(value):
        return bytes.fromhex(value)
    raw = value.encode()
    if not MIN_TEXT <= len(raw) <= MAX_TEXT:
        raise ValueError(f"an AuthorizationKey is {2 * MIN_BYTES}-{2 * MAX_BYTES} hex digits or "
                         f"a {MIN_TEXT}-{MAX_TEXT} byte password, not {len(value)} characters")
    return raw


def header(identity: str, password: bytes) -> str:
    """The ``Authorization`` header value a charge point sends."""
    return "Basic " + base64.b64encode(identity.encode() + b":" + password).decode()


def credentials(value: str, identity: str) -> bytes | None:
    """The password in an ``Authorization`` header, as bytes, when the header is Basic and its
    user is ``identity``; None otherwise (no header, another scheme, broken base64, another user)."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except binascii.Error:
        return None
    user, colon, password = decoded.partition(b":")
    if not colon or user != identity.encode():
        return None
    return password


def alternatives(password: bytes) -> list[bytes]:
    """Other readings of a presented password worth one more check: the bytes a hex
    AuthorizationKey stands for, when the charge point sent the key itself."""
    try:
        text = password.decode("ascii")
    except UnicodeDecodeError:
        return []
    return [bytes.fromhex(text)] if is_hex_key(text) else []


REDACTED = "<redacted>"


PASSWORD_COMPONENT, PASSWORD_VARIABLE = "SecurityCtrlr", "BasicAuthPassword"  # OCPP 2.0.1's
# SetNetworkProfile's secrets (connectionData.vpn / .apn): a VPN's password and key, an APN's
# password and the SIM's PIN
_NETWORK_SECRETS = {"vpn": ("password", "key"), "apn": ("apnPassword", "simPin")}


def _named(data: Any, part: str, name: str) -> bool:
    found = data.get(part) if isinstance(data, dict) else None
    return isinstance(found, dict) and str(found.get("name", "")).lower() == name.lower()


def is_password(data: Any, actual_only: bool = True) -> bool:
    """Whether a 2.0.1 SetVariables/GetVariables entry (or result) is the station's Basic auth
    password. 2.0.1 names components and variables case-insensitively, so this does too; with
    ``actual_only`` the Actual attribute only (the one a station authenticates with)."""
    return (_named(data, "component", PASSWORD_COMPONENT) and _named(data, "variable", PASSWORD_VARIABLE)
            and (not actual_only or data.get("attributeType", "Actual") == "Actual"))


_SECRET_BEARING = frozenset({"ChangeConfiguration", "SetVariables", "NotifyReport", "SetNetworkProfile"})


def redacted(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as a log or a record may keep it: a charge point's password (1.6's
    ``AuthorizationKey``, 2.0.1's ``SecurityCtrlr.BasicAuthPassword`` in SetVariables, any
    attribute of it, or reported in a NotifyReport) and SetNetworkProfile's VPN and APN secrets
    replaced by :data:`REDACTED`;
    any other payload as it is. The command record and the message log are read by every
    viewer; the secrets are not theirs. Called on every frame logged: any other action returns
    at the first test."""
    if action not in _SECRET_BEARING:
        return payload
    if action == "ChangeConfiguration" and str(payload.get("key", "")).lower() == "authorizationkey":
        return {**payload, "value": REDACTED}
    data = payload.get("setVariableData")
    if action == "SetVariables" and isinstance(data, list) and any(is_password(d, False) for d in data):
        return {**payload, "setVariableData": [
            {**d, "attributeValue": REDACTED} if is_password(d, False) else d for d in data]}
    report = payload.get("reportData")
    if action == "NotifyReport" and isinstance(report, list) and any(is_password(d, False) for d in report):
        return {**payload, "reportData": [
            {**d, "variableAttribute": [{**a, "value": REDACTED} if isinstance(a, dict) and "value" in a else a
                                        for a in d.get("variableAttribute") or []]} if is_password(d, False) else d
            for d in report]}
    connection = payload.get("connectionData")
    if action == "SetNetworkProfile" and isinstance(connection, dict):
        hidden = dict(connection)
        for part, secrets in _NETWORK_SECRETS.items():
            if isinstance(hidden.get(part), dict):
                hidden[part] = {k: REDACTED if k in secrets else v for k, v in hidden[part].items()}
        return {**payload, "connectionData": hidden}
    return payload


def redacted_answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A charge point's answer as a log or a record may keep it: a 2.0.1 GetVariables result
    that holds the Basic auth password (a station should never send it: it is WriteOnly) with the
    value replaced; any other answer as it is."""
    if action != "GetVariables":
        return payload
    results = payload.get("getVariableResult")
    if isinstance(results, list) and any(
            is_password(r, False) and "attributeValue" in r for r in results):
        return {**payload, "getVariableResult": [
            {**r, "attributeValue": REDACTED} if is_password(r, False) and "attributeValue" in r else r
            for r in results]}
    return payload
