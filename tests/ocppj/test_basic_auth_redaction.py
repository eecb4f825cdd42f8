"""The secrets the command record and the message log never keep (ocppj.basic_auth.redacted):
1.6's AuthorizationKey, 2.0.1's BasicAuthPassword (any spelling of its names, which 2.0.1 treats
case-insensitively, any attribute) and SetNetworkProfile's VPN and APN secrets; bytes in,
payload out, no sockets."""

from __future__ import annotations

from ocppj.basic_auth import REDACTED, is_password, redacted


def password(component: str = "SecurityCtrlr", variable: str = "BasicAuthPassword", **extra: str) -> dict:
    return {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": "s3cret-s3cret-01",
            **extra}


def test_the_16_key_in_any_case() -> None:
    for key in ("AuthorizationKey", "authorizationkey"):
        assert redacted("ChangeConfiguration", {"key": key, "value": "00ff"})["value"] == REDACTED
    other = {"key": "HeartbeatInterval", "value": "60"}
    assert redacted("ChangeConfiguration", other) is other


def test_the_201_password_however_spelled_and_whatever_attribute() -> None:
    heartbeat = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                 "attributeValue": "60"}
    for entry in (password(), password("securityctrlr", "basicauthpassword"), password(attributeType="Target")):
        kept = redacted("SetVariables", {"setVariableData": [heartbeat, entry]})
        assert kept["setVariableData"] == [heartbeat, {**entry, "attributeValue": REDACTED}]
    assert is_password(password("SECURITYCTRLR")) and not is_password(password(attributeType="Target"))
    assert is_password(password(attributeType="Target"), actual_only=False)
    plain = {"setVariableData": [heartbeat]}
    assert redacted("SetVariables", plain) is plain


def test_network_profile_secrets() -> None:
    payload = {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wireless0",
        "vpn": {"server": "vpn.example", "user": "u", "password": "vpn-pw", "key": "vpn-key", "type": "IPSec"},
        "apn": {"apn": "internet", "apnPassword": "apn-pw", "simPin": 1234, "apnAuthentication": "AUTO"}}}
    kept = redacted("SetNetworkProfile", payload)["connectionData"]
    assert (kept["vpn"]["password"], kept["vpn"]["key"], kept["apn"]["apnPassword"], kept["apn"]["simPin"]) == (
        REDACTED,) * 4
    assert (kept["vpn"]["user"], kept["apn"]["apn"], kept["ocppCsmsUrl"]) == ("u", "internet", "wss://csms.example/ocpp")
    assert payload["connectionData"]["vpn"]["password"] == "vpn-pw"  # the payload sent is untouched


def test_a_password_a_station_reports_or_answers() -> None:
    from ocppj.basic_auth import redacted_answer
    entry = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
             "variableAttribute": [{"value": "leaked-0001", "mutability": "WriteOnly"}]}
    other = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
             "variableAttribute": [{"value": "300"}]}
    report = redacted("NotifyReport", {"requestId": 1, "reportData": [other, entry]})["reportData"]
    assert report == [other, {**entry, "variableAttribute": [{"value": REDACTED, "mutability": "WriteOnly"}]}]
    answer = {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "leaked-0001",
                                     "component": {"name": "securityctrlr"},
                                     "variable": {"name": "BasicAuthPassword"}}]}
    assert redacted_answer("GetVariables", answer)["getVariableResult"][0]["attributeValue"] == REDACTED
    plain = {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "300", **other}]}
    assert redacted_answer("GetVariables", plain) is plain
