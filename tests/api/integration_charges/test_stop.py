"""Stop a charge (seed 002) over real HTTP: the doc's answers and error codes, keys, source
addresses, and how the charge point's answer shows."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chargebay.stack import Stack
from tests.api.full_cp import ADMIN, add_tag, bearer, eventually, make_token, online
from tests.api.integration_charges.conftest import START_PATHS, STOP_PATHS, assert_error, set_integration, transaction


# -- stop a charge -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", STOP_PATHS)
async def test_stop_accepted_answers_200_with_empty_body(stack: Stack, client: httpx.AsyncClient,
                                                         key: dict[str, str], path: str) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-1") as cp:
        cp.follow_remote_stop = True
        tx = await cp.start_transaction(1, "TAG-1")
        r = await client.post(path, json={"chargebox": "CP-1", "connector": 1, "id_tag": "TAG-1",
                                          "transaction": tx}, headers=key)
        assert r.status_code == 200, r.text
        assert r.content == b""
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]
        # The charger follows up with its StopTransaction: the transaction ends.
        await cp.wait_for(lambda: cp.stopped)

        async def ended() -> bool:
            return (await transaction(client, tx))["active"] is False

        assert await eventually(ended)


async def test_stop_without_transaction_field_stops_the_one_on_that_connector(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-A")
    await add_tag(client, "TAG-B")
    async with online(stack, "CP-2") as cp:
        tx_a = await cp.start_transaction(1, "TAG-A")
        tx_b = await cp.start_transaction(2, "TAG-B")
        assert tx_a != tx_b
        r = await client.post("/integration/charges/stop",
                              json={"chargebox": "CP-2", "connector": 2, "id_tag": "TAG-B"}, headers=key)
        assert r.status_code == 200 and r.content == b""
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx_b}]


@pytest.mark.parametrize("path", STOP_PATHS)
@pytest.mark.parametrize("connector", [0, -1])
async def test_stop_connector_not_valid(stack: Stack, client: httpx.AsyncClient, key: dict[str, str],
                                        path: str, connector: int) -> None:
    async with online(stack, "CP-3") as cp:
        r = await client.post(path, json={"chargebox": "CP-3", "connector": connector, "id_tag": "TAG-1"},
                              headers=key)
        assert_error(r, 400, "ConnectorNotValid")
        assert cp.payloads("RemoteStopTransaction") == []


async def test_stop_not_in_transaction(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-4") as cp:
        body = {"chargebox": "CP-4", "connector": 1, "id_tag": "TAG-1"}
        assert_error(await client.post("/integration/charges/stop", json=body, headers=key),
                     400, "NotInTransaction")
        tx = await cp.start_transaction(1, "TAG-1")
        assert_error(await client.post("/integration/charges/stop", json={**body, "connector": 2},
                                       headers=key), 400, "NotInTransaction")
        await cp.stop_transaction(tx)
        assert_error(await client.post("/latest/integration/charges/stop", json=body, headers=key),
                     400, "NotInTransaction")
        assert cp.payloads("RemoteStopTransaction") == []


async def test_stop_wrong_transaction(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    await add_tag(client, "TAG-2")
    async with online(stack, "CP-5") as cp:
        tx = await cp.start_transaction(1, "TAG-1")
        other = await cp.start_transaction(2, "TAG-2")
        for body in [
            {"chargebox": "CP-5", "connector": 1, "id_tag": "TAG-2"},  # wrong id_tag
            {"chargebox": "CP-5", "connector": 1, "id_tag": "TAG-2", "transaction": tx},
            {"chargebox": "CP-5", "connector": 1, "id_tag": "TAG-1", "transaction": tx + 1000},
            {"chargebox": "CP-5", "connector": 1, "id_tag": "TAG-1", "transaction": other},
        ]:
            assert_error(await client.post("/integration/charges/stop", json=body, headers=key),
                         400, "WrongTransaction")
        assert cp.payloads("RemoteStopTransaction") == []
        assert (await transaction(client, tx))["active"] is True


async def test_stop_chargebox_not_found(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    for path in STOP_PATHS:
        r = await client.post(path, json={"chargebox": "NOPE", "connector": 1, "id_tag": "TAG-1"}, headers=key)
        assert_error(r, 404, "ChargeboxNotFound")


@pytest.mark.parametrize("path", STOP_PATHS + START_PATHS)
async def test_api_key_not_found(stack: Stack, client: httpx.AsyncClient, path: str) -> None:
    await client.post("/api/v1/charge-points", json={"id": "CP-6"}, headers=ADMIN)
    body = {"chargebox": "CP-6", "connector": 1, "id_tag": "TAG-1"}
    viewer = await make_token(client, "viewer")
    for headers in [{}, bearer("cb_unknown"), {"X-API-Key": "cb_unknown"}, bearer(viewer),
                    {"X-API-Key": viewer}, {"Authorization": "Basic Zm9vOmJhcg=="}]:
        assert_error(await client.post(path, json=body, headers=headers), 403, "APIKeyNotFound")


async def test_revoked_key_is_not_found(stack: Stack, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/tokens", json={"name": "old", "role": "integrator"}, headers=ADMIN)
    token_id, secret = r.json()["id"], r.json()["token"]
    body = {"chargebox": "NOPE", "connector": 1, "id_tag": "TAG-1"}
    assert_error(await client.post("/integration/charges/stop", json=body, headers=bearer(secret)),
                 404, "ChargeboxNotFound")
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=ADMIN)).status_code == 204
    assert_error(await client.post("/integration/charges/stop", json=body, headers=bearer(secret)),
                 403, "APIKeyNotFound")


@pytest.mark.parametrize("style", ["bearer", "x-api-key"])
async def test_key_as_bearer_or_x_api_key(stack: Stack, client: httpx.AsyncClient, style: str) -> None:
    secret = await make_token(client, "integrator")
    headers = bearer(secret) if style == "bearer" else {"X-API-Key": secret}
    await add_tag(client, "TAG-K")
    async with online(stack, "CP-7") as cp:
        tx = await cp.start_transaction(1, "TAG-K")
        r = await client.post("/latest/integration/charges/stop",
                              json={"chargebox": "CP-7", "connector": 1, "id_tag": "TAG-K"}, headers=headers)
        assert r.status_code == 200 and r.content == b""
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]


async def test_rest_api_not_enabled(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-8") as cp:
        cp.follow_remote_start = True
        await cp.start_transaction(1, "TAG-1")
        assert (await set_integration(client, enabled=False))["enabled"] is False
        stop = {"chargebox": "CP-8", "connector": 1, "id_tag": "TAG-1"}
        for path in STOP_PATHS:
            assert_error(await client.post(path, json=stop, headers=key), 403, "RestAPINotEnabled")
        for path in START_PATHS:
            assert_error(await client.post(path, json={**stop, "connector": 2}, headers=key),
                         403, "RestAPINotEnabled")
        assert cp.payloads("RemoteStopTransaction") == [] and cp.payloads("RemoteStartTransaction") == []
        # The key is checked first, as in the vendor's order.
        assert_error(await client.post(STOP_PATHS[0], json=stop), 403, "APIKeyNotFound")
        await set_integration(client, enabled=True)
        r = await client.post(STOP_PATHS[0], json=stop, headers=key)
        assert r.status_code == 200 and r.content == b""


async def test_invalid_source_ip_address(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-9") as cp:
        tx = await cp.start_transaction(1, "TAG-1")
        stop = {"chargebox": "CP-9", "connector": 1, "id_tag": "TAG-1", "transaction": tx}
        await set_integration(client, allowed_ips=["10.0.0.0/8", "192.168.1.7", "::1"])
        for path in STOP_PATHS:
            assert_error(await client.post(path, json=stop, headers=key), 403, "InvalidSourceIPAddr")
        for path in START_PATHS:
            assert_error(await client.post(path, json={**stop, "connector": 2}, headers=key),
                         403, "InvalidSourceIPAddr")
        assert cp.payloads("RemoteStopTransaction") == []
        # The rest of the API is not behind the allow-list.
        assert (await client.get("/api/v1/charge-points/CP-9", headers=key)).status_code == 200
        await set_integration(client, allowed_ips=["10.0.0.0/8", "127.0.0.0/8"])
        r = await client.post(STOP_PATHS[1], json=stop, headers=key)
        assert r.status_code == 200 and r.content == b""
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]


async def test_allow_list_with_the_exact_address(stack: Stack, client: httpx.AsyncClient,
                                                 key: dict[str, str]) -> None:
    await set_integration(client, allowed_ips=["127.0.0.1"])
    r = await client.post(STOP_PATHS[0], json={"chargebox": "NOPE", "connector": 1, "id_tag": "T"}, headers=key)
    assert_error(r, 404, "ChargeboxNotFound")


async def test_stop_chargebox_offline(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-10") as cp:
        tx = await cp.start_transaction(1, "TAG-1")

    async def offline() -> bool:
        return (await client.get("/api/v1/charge-points/CP-10", headers=ADMIN)).json()["online"] is False

    assert await eventually(offline)
    r = await client.post(STOP_PATHS[0], json={"chargebox": "CP-10", "connector": 1, "id_tag": "TAG-1",
                                               "transaction": tx}, headers=key)
    assert_error(r, 409, "ChargeboxOffline")


async def test_stop_rejected(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-11") as cp:
        cp.follow_remote_stop = True
        cp.reject.add("RemoteStopTransaction")
        tx = await cp.start_transaction(1, "TAG-1")
        r = await client.post(STOP_PATHS[1], json={"chargebox": "CP-11", "connector": 1, "id_tag": "TAG-1"},
                              headers=key)
        assert_error(r, 409, "StopRejected")
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]
        await asyncio.sleep(0.1)
        assert cp.stopped == [] and (await transaction(client, tx))["active"] is True


async def test_stop_call_error_and_timeout_are_errors_of_their_own(stack: Stack, client: httpx.AsyncClient,
                                                                   key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-12") as cp:
        await cp.start_transaction(1, "TAG-1")
        body = {"chargebox": "CP-12", "connector": 1, "id_tag": "TAG-1"}
        cp.errors["RemoteStopTransaction"] = ("InternalError", "relay stuck")
        r = await client.post(STOP_PATHS[0], json=body, headers=key)
        assert_error(r, 502, "CallError")
        assert "InternalError" in r.json()["description"]
        del cp.errors["RemoteStopTransaction"]
        cp.delays["RemoteStopTransaction"] = 0.8
        r = await client.post(STOP_PATHS[0], params={"wait": 0.3}, json=body, headers=key)
        assert_error(r, 504, "Timeout")


async def test_stop_is_recorded_as_a_command(stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await add_tag(client, "TAG-1")
    async with online(stack, "CP-13") as cp:
        tx = await cp.start_transaction(1, "TAG-1")
        r = await client.post(STOP_PATHS[0], json={"chargebox": "CP-13", "connector": 1, "id_tag": "TAG-1"},
                              headers=key)
        assert r.status_code == 200
    r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-13"}, headers=ADMIN)
    [command] = r.json()["items"]
    assert command["action"] == "RemoteStopTransaction" and command["payload"] == {"transactionId": tx}
    assert command["status"] == "result" and command["requested_by"] == "billing"


@pytest.mark.parametrize("path", STOP_PATHS + START_PATHS)
async def test_out_of_range_connector_is_a_json_error(stack: Stack, client: httpx.AsyncClient,
                                                      key: dict[str, str], path: str) -> None:
    """Never a bare text/plain 500: a vendor error code (ConnectorNotValid, or 500 InternalServerError)."""
    async with online(stack, "CP-14") as cp:
        r = await client.post(path, json={"chargebox": "CP-14", "connector": 2**63, "id_tag": "TAG-1"},
                              headers=key)
        assert r.headers["content-type"].startswith("application/json"), (r.status_code, r.text)
        assert (r.status_code, r.json()["code"]) in ((400, "ConnectorNotValid"), (500, "InternalServerError"))
        assert cp.calls == []




async def test_the_vendor_schemas_default_transaction_0_counts_as_left_out(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    """``"transaction": 0`` is the default of the vendor's own request schema: a client that
    fills every field sends it; it is read as no transaction named, not as a wrong one."""
    await add_tag(client, "TAG-Z")
    async with online(stack, "CP-20") as cp:
        tx = await cp.start_transaction(1, "TAG-Z")
        r = await client.post(STOP_PATHS[0], json={"chargebox": "CP-20", "connector": 1, "id_tag": "TAG-Z",
                                                   "transaction": 0}, headers=key)
        assert r.status_code == 200, r.text
        assert cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}]


async def test_wait_0_answers_200_once_recorded_as_the_vendor_does(
        stack: Stack, client: httpx.AsyncClient, key: dict[str, str]) -> None:
    """``?wait=0``: the vendor's 200, "sent to the chargebox", without waiting for its answer
    (here one that takes 5 s, and rejects): the command is recorded before the 200 (so a failure
    to send it is on record too), goes out at once, and its answer is stored with it as it comes.
    The checks before sending still answer their errors."""
    await add_tag(client, "TAG-W")
    async with online(stack, "CP-21") as cp:
        cp.reject.add("RemoteStopTransaction")
        cp.delays["RemoteStopTransaction"] = 5.0
        tx = await cp.start_transaction(1, "TAG-W")
        body = {"chargebox": "CP-21", "connector": 1, "id_tag": "TAG-W"}
        r = await client.post(STOP_PATHS[0], params={"wait": 0}, json=body, headers=key)
        assert r.status_code == 200 and r.content == b"", r.text
        r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-21"}, headers=ADMIN)
        assert [(c["action"], c["status"]) for c in r.json()["items"]] == [("RemoteStopTransaction", "pending")]
        await cp.wait_for(lambda: cp.payloads("RemoteStopTransaction") == [{"transactionId": tx}])
        assert_error(await client.post(STOP_PATHS[0], params={"wait": 0}, json={**body, "id_tag": "OTHER"},
                                       headers=key), 400, "WrongTransaction")

        async def stored() -> bool:
            r = await client.get("/api/v1/commands", params={"charge_point_id": "CP-21"}, headers=ADMIN)
            return [c["status"] for c in r.json()["items"]] == ["result"]

        assert await eventually(stored, timeout=20)  # its answer (Rejected) came and was kept


async def test_a_valid_key_of_another_role_is_told_its_role(stack: Stack, client: httpx.AsyncClient) -> None:
    viewer = await make_token(client, "viewer")
    r = await client.post(STOP_PATHS[0], json={"chargebox": "CP-22", "connector": 1, "id_tag": "TAG-1"},
                          headers=bearer(viewer))
    assert_error(r, 403, "APIKeyNotFound")
    assert r.json()["role"] == "viewer" and "'viewer'" in r.json()["description"]
