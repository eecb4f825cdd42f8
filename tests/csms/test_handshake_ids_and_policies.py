"""The websocket handshake: path, id, subprotocol and unknown charge points.

Named after the OCPP 1.6 compliance test cases (OCTT, system under test: Central System) where
one fits.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.csms import handshakes
from tests.csms.handshakes import (
    BOOT,
    CP,
    STEP,
    TEST_BUDGET,
    charge_point_row,
    heartbeat,
    raw_client,
    refused,
    root_url,
)
from tests.ocpp_client import connect as connect_cp

settings_overrides = handshakes.settings_overrides  # a fixture


# -- path, id and subprotocol ------------------------------------------------------------------
@pytest.mark.parametrize("subprotocols", [None, ["ocpp2.1"], ["ocpp1.5", "ocpp2.0"]],
                         ids=["none", "other", "several-others"])
async def test_missing_subprotocol_is_400(stack: Stack, subprotocols: list[str] | None) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/CP-NOPROTO", subprotocols=subprotocols)
        assert response.status_code == 400
        assert b"ocpp2.0.1, ocpp1.6" in response.body  # what it may offer instead
        assert await charge_point_row(stack, "CP-NOPROTO") is None  # nothing registered
        assert stack.central.router.local_count() == 0


async def test_subprotocol_among_several_offered_is_selected(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with connect(f"{stack.ws_url}/CP-MULTI", subprotocols=["ocpp1.5", "ocpp1.6"],
                           open_timeout=STEP, close_timeout=1) as ws:
            assert ws.subprotocol == "ocpp1.6"
            await heartbeat(ws, "hb")


async def test_id_of_48_characters_connects_and_49_is_400(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with raw_client(stack, "A" * 48) as ws:
            await heartbeat(ws, "hb")
        response = await refused(f"{stack.ws_url}/{'B' * 49}")
        assert response.status_code == 400
        assert await charge_point_row(stack, "B" * 49) is None


@pytest.mark.parametrize("encoded", ["CP%00X", "CP%07", "CP%0A1", "%7F", "CP%C3%A9",
                                     "%E2%9A%A1CP", "CP%FF", "CP%2FX", ""],
                         ids=["nul", "bell", "newline", "del", "e-acute", "emoji", "bad-utf8",
                              "encoded-slash", "empty"])
async def test_id_not_printable_ascii_is_400(stack: Stack, encoded: str) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/{encoded}")
        assert response.status_code == 400
        assert stack.central.router.local_count() == 0
        async with stack.central.engine.connect() as conn:
            assert (await conn.execute(select(CP.c.id))).all() == []


async def test_percent_encoded_printable_id_is_decoded(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        async with connect(f"{stack.ws_url}/CP%20%231", subprotocols=["ocpp1.6"],
                           open_timeout=STEP, close_timeout=1) as ws:
            await heartbeat(ws, "hb")
            assert stack.central.router.local("CP #1") is not None
        assert await charge_point_row(stack, "CP #1") is not None


@pytest.mark.parametrize("path", ["/CP-1", "/", "/ocpp", "/OCPP/CP-1", "/api/CP-1",
                                  "/ocppx/CP-1", "/v16/ocpp/CP-1"])
async def test_path_not_under_ocpp_is_404(stack: Stack, path: str) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(root_url(stack) + path)
        assert response.status_code == 404
        assert stack.central.router.local_count() == 0


# -- unknown charge points -----------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "reject"}],
                         indirect=True)
async def test_reject_policy_refuses_unknown_id_with_404(stack: Stack) -> None:
    async with asyncio.timeout(TEST_BUDGET):
        response = await refused(f"{stack.ws_url}/CP-STRANGER")
        assert response.status_code == 404
        assert await charge_point_row(stack, "CP-STRANGER") is None  # not registered either
        # Still refused the second time: the first attempt left nothing behind.
        assert (await refused(f"{stack.ws_url}/CP-STRANGER")).status_code == 404


@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "reject"}],
                         indirect=True)
async def test_tc_001_reject_policy_lets_a_registered_id_boot(stack: Stack) -> None:
    stack.central.register("CP-KNOWN", "Accepted")
    await stack.central.writer.flush()
    async with asyncio.timeout(TEST_BUDGET):
        async with connect_cp(stack.ws_url, "CP-KNOWN", open_timeout=STEP) as cp:
            res = await cp.call(BOOT)
            assert res.status == "Accepted" and res.interval == 300
            row = await charge_point_row(stack, "CP-KNOWN")
            assert row.online is True and row.boot_status == "Accepted"


@pytest.mark.parametrize("settings_overrides", [{"unknown_charge_points": "pending"}],
                         indirect=True)
async def test_tc_002_cold_boot_pending_until_accepted(stack: Stack) -> None:
    """TC_002: Cold Boot Charge Point - Pending; the operator accepts it over the REST API."""
    async with asyncio.timeout(TEST_BUDGET):
        async with connect_cp(stack.ws_url, "CP-NEW", open_timeout=STEP) as cp, \
                httpx.AsyncClient(base_url=stack.http_url, timeout=STEP) as http:
            res = await cp.call(BOOT)
            assert res.status == "Pending" and res.interval > 0
            row = await charge_point_row(stack, "CP-NEW")
            assert (row.registration_status, row.boot_status) == ("Pending", "Pending")
            # Still Pending when it retries before anyone accepted it.
            assert (await cp.call(BOOT)).status == "Pending"

            answer = await http.post("/api/v1/charge-points/CP-NEW/accept",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["registration_status"] == "Accepted"

            res = await cp.call(BOOT)
            assert res.status == "Accepted" and res.interval == 300
            row = await charge_point_row(stack, "CP-NEW")
            assert (row.registration_status, row.boot_status) == ("Accepted", "Accepted")
        # Accepted for good: a reconnect boots Accepted straight away.
        async with connect_cp(stack.ws_url, "CP-NEW", open_timeout=STEP) as cp:
            assert (await cp.call(BOOT)).status == "Accepted"


async def test_accept_endpoint_needs_a_token_and_a_known_id(stack: Stack) -> None:
    stack.central.register("CP-P", "Pending")
    await stack.central.writer.flush()
    async with asyncio.timeout(TEST_BUDGET), \
            httpx.AsyncClient(base_url=stack.http_url, timeout=STEP) as http:
        no_token = await http.post("/api/v1/charge-points/CP-P/accept")
        assert no_token.status_code == 401
        assert no_token.json()["code"] == "Unauthorized"
        wrong = await http.post("/api/v1/charge-points/CP-P/accept",
                                headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        row = await charge_point_row(stack, "CP-P")
        assert row.registration_status == "Pending"  # neither attempt changed anything

        unknown = await http.post("/api/v1/charge-points/CP-NOBODY/accept",
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert unknown.status_code == 404
        body = unknown.json()
        assert body["code"] == "ChargePointNotFound" and "CP-NOBODY" in body["message"]
        assert await charge_point_row(stack, "CP-NOBODY") is None
