"""The REST resources' commands in OCPP 2.0.1's shape, and 2.0.1 commands in 1.6's for the store.

The reservation, local-list and password resources (and the store beneath them) think in 1.6's
terms: an id tag, its parent, a connector. A 2.0.1 station gets the same intent in its own
messages (ReserveNow with ``id``/``idToken``/``evseId``, SendLocalList with ``versionNumber`` and
``idTokenInfo``, the password as ``SecurityCtrlr.BasicAuthPassword`` by SetVariables); a 2.0.1
command sent raw through the commands route is read back into the store's 1.6 shape. One place
for each mapping, both ways, so the resources and the command effects cannot drift apart.

The id tag table keeps no token type. A token the central system hands a station to recognise
later (a reservation's, a local list's) goes out as ``ISO14443``, the RFID card most id tags
are; a remote start's is ``Central`` (a central system's own token, as 2.0.1 names it).
"""

from __future__ import annotations

from typing import Any

from ocppj.basic_auth import PASSWORD_COMPONENT, PASSWORD_VARIABLE, is_password

CARD = "ISO14443"
CENTRAL = "Central"
PASSWORD_CHARS = (16, 40)  # 2.0.1's BasicAuthPassword: a 16-40 character string, sent as it is


def token(value: str, kind: str = CARD) -> dict[str, Any]:
    return {"idToken": value, "type": kind}


# -- reservations ---------------------------------------------------------------------------------
def reserve_now_201(p16: dict[str, Any], token_type: str = CARD) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p16["reservationId"], "expiryDateTime": p16["expiryDate"],
                           "idToken": token(p16["idTag"], token_type)}
    if p16.get("connectorId"):  # 0: any EVSE, which 2.0.1 says by leaving evseId out
        out["evseId"] = p16["connectorId"]
    if p16.get("parentIdTag"):
        out["groupIdToken"] = token(p16["parentIdTag"], CENTRAL)
    return out


def reserve_now_16(p201: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"reservationId": p201["id"], "expiryDate": p201["expiryDateTime"],
                           "idTag": p201["idToken"]["idToken"], "connectorId": p201.get("evseId", 0)}
    if p201.get("groupIdToken"):
        out["parentIdTag"] = p201["groupIdToken"]["idToken"]
    return out


# -- local lists ----------------------------------------------------------------------------------
def local_list_201(p16: dict[str, Any]) -> dict[str, Any]:
    """1.6's SendLocalList as 2.0.1's: an entry without ``idTagInfo`` still means delete it."""
    entries = []
    for e in p16.get("localAuthorizationList") or []:
        entry: dict[str, Any] = {"idToken": token(e["idTag"])}
        if "idTagInfo" in e:
            info = e["idTagInfo"]
            entry["idTokenInfo"] = {"status": info["status"]}
            if "expiryDate" in info:
                entry["idTokenInfo"]["cacheExpiryDateTime"] = info["expiryDate"]
            if info.get("parentIdTag"):
                entry["idTokenInfo"]["groupIdToken"] = token(info["parentIdTag"], CENTRAL)
        entries.append(entry)
    out: dict[str, Any] = {"versionNumber": p16["listVersion"], "updateType": p16["updateType"]}
    if entries:  # 2.0.1 wants at least one entry when the list is there; a Full without: cleared
        out["localAuthorizationList"] = entries
    return out


def local_list_16(p201: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for e in p201.get("localAuthorizationList") or []:
        entry: dict[str, Any] = {"idTag": e["idToken"]["idToken"]}
        if "idTokenInfo" in e:
            info = e["idTokenInfo"]
            entry["idTagInfo"] = {"status": info["status"]}
            if "cacheExpiryDateTime" in info:
                entry["idTagInfo"]["expiryDate"] = info["cacheExpiryDateTime"]
            if info.get("groupIdToken"):
                entry["idTagInfo"]["parentIdTag"] = info["groupIdToken"]["idToken"]
        entries.append(entry)
    return {"listVersion": p201["versionNumber"], "updateType": p201["updateType"],
            "localAuthorizationList": entries}


# -- the Basic auth password ----------------------------------------------------------------------
def set_password(password: str) -> dict[str, Any]:
    return {"setVariableData": [{"component": {"name": PASSWORD_COMPONENT},
                                 "variable": {"name": PASSWORD_VARIABLE}, "attributeValue": password}]}


def password_in(payload: dict[str, Any]) -> str | None:
    """The password a SetVariables sets, if it sets one."""
    return next((d["attributeValue"] for d in payload.get("setVariableData") or () if is_password(d)), None)
