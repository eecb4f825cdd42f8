"""What a simulated 2.0.1 station answers with the 1.6 station's own logic (issue #17):
reservations, the local list and smart charging.

Why by translation: holding a reservation, a local list or a stack of charging profiles is the
same state in both versions, and the 1.6 handlers already keep it (and cap the meter by the
profiles). A 2.0.1 request is turned into its 1.6 form, answered by the 1.6 handler registered
on a private table, and the answer turned back: one implementation of each rule.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from chargepoint.client import CALL_FAILED
from chargepoint.handlers import Handlers, Reply
from chargepoint.smart_charging import PURPOSE_16, profile_from_201
from charger_sim import handlers, management

if TYPE_CHECKING:
    from charger_sim.station201 import Station201

Payload = dict[str, Any]


def _answer(result: Any) -> Payload:
    """A 1.6 handler's answer payload (work that follows it is left to the 1.6 handler's own
    background tasks: these handlers return plain payloads)."""
    return result.payload if isinstance(result, Reply) else dict(result)


def profile_16(st: Station201, profile: Payload, evse: int) -> Payload:
    """A 2.0.1 chargingProfile as the 1.6 station keeps it (its first schedule; the 2.0.1 form
    kept beside it for GetChargingProfiles)."""
    found = {**profile_from_201(profile), "_v201": {"evseId": evse, "profile": profile}}
    if "transactionId" in profile:
        found["transactionId"] = next((tx_id for tx_id, sid in st.tx_ids.items() if sid == profile["transactionId"]),
                                      None)
    return found


def register(st: Station201, on: Handlers) -> None:
    ours = Handlers()  # the 1.6 logic, answering the translated requests
    handlers.register(st, ours)
    management.register(st, ours)

    def call16(action: str, payload: Payload) -> Payload:
        handler = ours.get(action)
        assert handler is not None, action
        return _answer(handler(payload))

    @on.on("ReserveNow")
    def reserve_now(p: Payload) -> Payload:
        evse = p.get("evseId")
        if evse is None:  # any EVSE: the first one free
            evse = next((c.id for c in st.connectors.values() if c.status == "Available" and c.tx is None), 1)
        request: Payload = {"connectorId": evse, "expiryDate": p["expiryDateTime"],
                            "idTag": p["idToken"]["idToken"], "reservationId": p["id"]}
        if p.get("groupIdToken"):
            request["parentIdTag"] = p["groupIdToken"]["idToken"]
        return {"status": call16("ReserveNow", request)["status"]}

    @on.on("CancelReservation")
    def cancel_reservation(p: Payload) -> Payload:
        return call16("CancelReservation", {"reservationId": p["reservationId"]})

    @on.on("SendLocalList")
    def send_local_list(p: Payload) -> Payload:
        entries = []
        for e in p.get("localAuthorizationList") or []:
            entry: Payload = {"idTag": e["idToken"]["idToken"]}
            info = e.get("idTokenInfo")
            if info is not None:
                entry["idTagInfo"] = {"status": info["status"], **(
                    {"expiryDate": info["cacheExpiryDateTime"]} if "cacheExpiryDateTime" in info else {})}
            entries.append(entry)
        answer = call16("SendLocalList", {"listVersion": p["versionNumber"], "updateType": p["updateType"],
                                          "localAuthorizationList": entries})
        st.model.find("LocalAuthListCtrlr", "Entries").value = str(len(st.local_list))  # type: ignore[union-attr]
        return answer

    @on.on("GetLocalListVersion")
    def get_local_list_version(p: Payload) -> Payload:
        return {"versionNumber": st.local_list_version}

    @on.on("SetChargingProfile")
    def set_charging_profile(p: Payload) -> Payload:
        profile = p["chargingProfile"]
        if profile["chargingProfilePurpose"] == "TxProfile" and profile.get("transactionId") is not None \
                and profile["transactionId"] not in st.tx_ids.values():
            return {"status": "Rejected"}  # no such transaction running here
        return {"status": call16("SetChargingProfile", {
            "connectorId": p["evseId"], "csChargingProfiles": profile_16(st, profile, p["evseId"])})["status"]}

    @on.on("GetChargingProfiles")
    def get_charging_profiles(p: Payload) -> Payload | Reply:
        """The installed profiles that match, reported per EVSE (ReportChargingProfiles, tbc on
        all but the last); the charging limit source of each is CSO (a central system set it)."""
        wanted, evse = p["chargingProfile"], p.get("evseId")
        by_evse: dict[int, list[Payload]] = {}
        for cid, kept in st.profiles.installed():
            original = (kept.get("_v201") or {}).get("profile")
            if original is None or (evse is not None and cid != evse):
                continue
            if (wanted.get("chargingProfilePurpose") not in (None, original["chargingProfilePurpose"])
                    or wanted.get("stackLevel") not in (None, original["stackLevel"])
                    or (wanted.get("chargingProfileId") and original["id"] not in wanted["chargingProfileId"])
                    or (wanted.get("chargingLimitSource") and "CSO" not in wanted["chargingLimitSource"])):
                continue
            by_evse.setdefault(cid, []).append(original)
        if not by_evse:
            return {"status": "NoProfiles"}

        async def report() -> None:
            groups = list(by_evse.items())
            with contextlib.suppress(*CALL_FAILED):
                for n, (evse_id, profiles) in enumerate(groups):
                    await st.call("ReportChargingProfiles", {
                        "requestId": p["requestId"], "chargingLimitSource": "CSO", "evseId": evse_id,
                        "chargingProfile": profiles, "tbc": n < len(groups) - 1})
        return Reply({"status": "Accepted"}, report)

    @on.on("ClearChargingProfile")
    def clear_charging_profile(p: Payload) -> Payload:
        criteria = p.get("chargingProfileCriteria") or {}
        purpose = criteria.get("chargingProfilePurpose")
        status = call16("ClearChargingProfile", {k: v for k, v in {
            "id": p.get("chargingProfileId"), "connectorId": criteria.get("evseId"),
            "chargingProfilePurpose": PURPOSE_16.get(purpose, purpose) if purpose else None,
            "stackLevel": criteria.get("stackLevel")}.items() if v is not None})["status"]
        return {"status": status}

    @on.on("GetCompositeSchedule")
    def get_composite_schedule(p: Payload) -> Payload:
        answer = call16("GetCompositeSchedule", {k: v for k, v in {
            "connectorId": p["evseId"], "duration": p["duration"],
            "chargingRateUnit": p.get("chargingRateUnit")}.items() if v is not None})
        if answer["status"] != "Accepted":
            return {"status": "Rejected"}
        schedule = answer["chargingSchedule"]
        return {"status": "Accepted", "schedule": {
            "evseId": p["evseId"], "duration": schedule["duration"], "scheduleStart": schedule["startSchedule"],
            "chargingRateUnit": schedule["chargingRateUnit"],
            "chargingSchedulePeriod": schedule["chargingSchedulePeriod"]}}
