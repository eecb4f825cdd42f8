"""Who the caller is (issue #13, item 8): X-Forwarded-For counts only from a trusted proxy
(CHARGEBAY_TRUSTED_PROXIES, empty by default), and behind the shipped haproxy configuration the
REST API and the websocket handshake see the real client's address.

The stack runs in this process on real sockets; haproxy is the Debian package's, started with
deploy/haproxy.cfg as tests/test_topology.py does. Clients bind to other loopback addresses
(127.0.0.5, 127.0.0.6) to be callers other than the balancer (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN
from tests.csms.handshakes import handshake, set_password
from tests.helpers import free_port

REPO = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STOP = "/integration/charges/stop"
NO_SUCH_BOX = {"chargebox": "NO-SUCH-BOX", "connector": 1, "id_tag": "TAG-1"}
RIGHT, WRONG = "the-right-password-01", "a-wrong-password-0001"


def client(base_url: str, source: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=20,
                             transport=httpx.AsyncHTTPTransport(local_address=source))


async def allow_only(stack: Stack, *networks: str) -> None:
    async with client(stack.http_url) as http:
        r = await http.put("/api/v1/integration", json={"enabled": True, "allowed_ips": list(networks)},
                           headers=ADMIN)
        assert r.status_code == 200, r.text


def code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


# -- no trusted proxy: the header is the caller's say, and ignored ---------------------------------
async def test_a_local_caller_cannot_claim_an_allowed_address(stack: Stack) -> None:
    await allow_only(stack, "10.9.8.7")
    async with client(stack.http_url) as http:
        for forged in ("10.9.8.7", "10.9.8.7, 127.0.0.1", "127.0.0.1, 10.9.8.7"):
            r = await http.post(STOP, json=NO_SUCH_BOX, headers={**ADMIN, "X-Forwarded-For": forged})
            assert code(r) == (403, "InvalidSourceIPAddr"), (forged, r.text)
            assert "127.0.0.1" in r.json()["description"]
    await allow_only(stack, "127.0.0.0/8")
    async with client(stack.http_url) as http:
        assert code(await http.post(STOP, json=NO_SUCH_BOX, headers=ADMIN)) == (404, "ChargeboxNotFound")


@pytest.mark.parametrize("settings_overrides", [{"cp_password_failures_per_ip": 3,
                                                 "cp_password_failures_per_id": 100}])
async def test_a_forged_header_does_not_spread_guesses_over_addresses(stack: Stack) -> None:
    for i in range(4):
        await set_password(stack, f"CP-F{i}", RIGHT)
    statuses = []
    for i in range(4):
        status, _ = await handshake(stack.ws_url, f"CP-F{i}", WRONG,
                                    headers={"X-Forwarded-For": f"10.0.0.{i}"})
        statuses.append(status)
    assert statuses == [401, 401, 401, 429]


# -- behind haproxy ---------------------------------------------------------------------------------
class Balancer:
    """haproxy with deploy/haproxy.cfg in front of one stack (both websocket servers of the
    configuration point at its websocket port)."""

    def __init__(self, stack: Stack, workdir: Path) -> None:
        binary = shutil.which("haproxy")
        assert binary is not None
        self.ocpp, self.http, stats = free_port(), free_port(), free_port()
        env = {**os.environ, "OCPP_BIND": f"127.0.0.1:{self.ocpp}", "HTTP_BIND": f"127.0.0.1:{self.http}",
               "STATS_BIND": f"127.0.0.1:{stats}", "LB_MAXCONN": "1000",
               "CSMS_1": f"127.0.0.1:{stack.ws_port}", "CSMS_2": f"127.0.0.1:{stack.ws_port}",
               "API_1": f"127.0.0.1:{stack.http_port}"}
        self.log = (workdir / "haproxy.log").open("wb")
        self.proc = subprocess.Popen([binary, "-db", "-f", str(REPO / "deploy" / "haproxy.cfg")],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp}/ocpp"

    async def ready(self) -> None:
        """Until both frontends reach a node that is up (checks every second, two to rise)."""
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert self.proc.poll() is None, "haproxy exited"
                with contextlib.suppress(httpx.HTTPError):
                    rest = await http.get(f"{self.http_url}/health")
                    ws = await http.get(f"http://127.0.0.1:{self.ocpp}/health")
                    if rest.status_code == ws.status_code == 200:
                        return
                assert time.monotonic() < deadline, "haproxy did not come up"
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def haproxy_installed() -> None:
    if shutil.which("haproxy") is None:
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail("haproxy missing in CI (scripts/services.sh installs it)")
        pytest.skip("haproxy is not installed (apt-get install haproxy; CI does)")


@pytest.fixture
async def balancer(haproxy_installed: None, stack: Stack, tmp_path: Path) -> AsyncIterator[Balancer]:
    lb = Balancer(stack, tmp_path)
    try:
        await lb.ready()
        yield lb
    finally:
        lb.stop()


BEHIND_HAPROXY = {"trusted_proxies": "127.0.0.1", "cp_password_failures_per_ip": 2,
                  "cp_password_failures_per_id": 100}


@pytest.mark.parametrize("settings_overrides", [BEHIND_HAPROXY])
async def test_behind_haproxy_the_rest_api_sees_the_real_client(stack: Stack, balancer: Balancer) -> None:
    await allow_only(stack, "127.0.0.5")
    async with client(balancer.http_url, "127.0.0.5") as allowed, \
            client(balancer.http_url, "127.0.0.6") as other:
        assert code(await allowed.post(STOP, json=NO_SUCH_BOX, headers=ADMIN)) == (404, "ChargeboxNotFound")
        r = await other.post(STOP, json=NO_SUCH_BOX, headers=ADMIN)
        assert code(r) == (403, "InvalidSourceIPAddr") and "127.0.0.6" in r.json()["description"]
        # naming the allowed address itself: haproxy appends the real one, and that one counts
        r = await other.post(STOP, json=NO_SUCH_BOX, headers={**ADMIN, "X-Forwarded-For": "127.0.0.5"})
        assert code(r) == (403, "InvalidSourceIPAddr") and "127.0.0.6" in r.json()["description"]


@pytest.mark.parametrize("settings_overrides", [BEHIND_HAPROXY])
async def test_behind_haproxy_the_handshake_sees_the_real_charge_point(
        stack: Stack, balancer: Balancer, caplog: pytest.LogCaptureFixture) -> None:
    """A guesser at 127.0.0.6 runs into its address's limit; a charge point at 127.0.0.5, through
    the same balancer, does not (all would be 127.0.0.1, the balancer, without the header)."""
    for cp_id in ("CP-A", "CP-B"):
        await set_password(stack, cp_id, RIGHT)
    caplog.set_level(logging.INFO, "csms.server")
    for expected in (401, 401, 429):
        assert (await handshake(balancer.ws_url, "CP-A", WRONG, "127.0.0.6"))[0] == expected
    assert (await handshake(balancer.ws_url, "CP-B", RIGHT, "127.0.0.5"))[0] == 101
    assert "CP-B connected from 127.0.0.5" in caplog.text

