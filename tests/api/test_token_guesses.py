"""Guessing bearer tokens on the REST API (issue #13, item 9b): tokens that match none issued are
counted per client address, and past CHARGEBAY_TOKEN_FAILURES_PER_IP every token from that
address is answered 429 ``TooManyAttempts`` with Retry-After, without being looked up, whichever
door it comes through (Bearer, X-API-Key, the integration key, the dashboard's cookie and token
login) — except a token accepted within CHARGEBAY_TOKEN_REMEMBERED_FOR (a day), so the clients at
work behind a shared address are not locked out by a guessing neighbour (review of #13). Expired or
revoked tokens are refused but not counted. Over real sockets: clients bound to 127.0.0.2 and 127.0.0.3 are two other
callers; an IPv6 caller is counted by its /64.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.auth import address_key
from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMIT = 5


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client per source address."""
    made = {source: httpx.AsyncClient(base_url=stack.http_url, timeout=20,
                                      transport=httpx.AsyncHTTPTransport(local_address=source))
            for source in ("127.0.0.2", "127.0.0.3")}
    yield made
    for client in made.values():
        await client.aclose()


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.request.url, r.status_code, r.text)
    seconds = int(r.headers["Retry-After"])
    assert 250 <= seconds <= 300
    if r.headers["content-type"].startswith("application/json"):
        assert r.json()["code"] == "TooManyAttempts" and r.json()["retryAfter"] == seconds


@pytest.mark.parametrize("settings_overrides", [{"token_failures_per_ip": LIMIT}])
async def test_token_guesses_are_limited_per_address(
        stack: Stack, clients: dict[str, httpx.AsyncClient]) -> None:
    guesser, neighbour = clients["127.0.0.2"], clients["127.0.0.3"]
    created = await guesser.post("/api/v1/tokens", json={"name": "old", "role": "viewer"}, headers=ADMIN)
    old = created.json()
    assert (await guesser.delete(f"/api/v1/tokens/{old['id']}", headers=ADMIN)).status_code == 204
    for _ in range(2 * LIMIT):  # a revoked token was issued: a stale client, not a guess
        r = await guesser.get("/api/v1/charge-points", headers={"Authorization": f"Bearer {old['token']}"})
        assert r.status_code == 401
    guesses = [
        guesser.get("/api/v1/charge-points", headers={"Authorization": "Bearer cb_guess-1"}),
        guesser.post("/api/v1/id-tags", json={"id_tag": "T"}, headers={"X-API-Key": "cb_guess-2"}),
        guesser.post("/integration/charges/stop", headers={"X-API-Key": "cb_guess-3"},
                     json={"chargebox": "CP", "connector": 1, "id_tag": "T"}),
        guesser.get("/api/admin/lockers", headers={"Authorization": "Bearer cb_guess-4"}),
        guesser.get("/api/locks", headers={"Authorization": "Bearer cb_guess-5"},
                    params={"pagenumber": 1, "limit": 10}),
    ]
    assert len(guesses) == LIMIT
    for request in guesses:
        assert (await request).status_code in (401, 403)
    # the address is at its limit: every door answers 429, even to a valid token not used lately
    made = await neighbour.post("/api/v1/tokens", json={"name": "unseen", "role": "operator"},
                                headers=ADMIN)
    unseen = made.json()["token"]
    unseen_bearer = {"Authorization": f"Bearer {unseen}"}
    assert_429(await guesser.get("/api/v1/charge-points", headers={"Authorization": "Bearer cb_guess-6"}))
    assert_429(await guesser.get("/api/v1/charge-points", headers=unseen_bearer))
    assert_429(await guesser.post("/api/v1/id-tags", json={"id_tag": "T"}, headers=unseen_bearer))
    assert_429(await guesser.post("/integration/charges/stop", headers={"X-API-Key": unseen},
                                  json={"chargebox": "CP", "connector": 1, "id_tag": "T"}))
    r = await guesser.get("/api/locks", headers=unseen_bearer, params={"pagenumber": 1, "limit": 10})
    assert_429(r)
    assert r.json()["status"] == 0  # the smart-lock API keeps its vendor's envelope
    assert_429(await guesser.post("/ui/login", data={"kind": "token", "token": unseen}))
    page = await guesser.get("/ui/lockers", headers={"Cookie": f"cb_session={unseen}"})
    assert_429(page)
    assert "too many unknown tokens" in page.text  # the login page, saying why
    # the admin's token, at work before the guessing, goes on, though last used longer ago than
    # the guesses count (an integrator that calls every few minutes, an operator back from lunch)
    assert stack.app is not None
    remembered = stack.app.state.good_tokens
    for key in remembered._seen:
        remembered._seen[key] -= 3600
    assert (await guesser.get("/api/v1/charge-points", headers=ADMIN)).status_code == 200
    assert_429(await guesser.get("/api/v1/charge-points", headers={"Authorization": "Bearer cb_guess-7"}))
    # another address is not affected, and public endpoints stay open
    assert (await neighbour.get("/api/v1/charge-points", headers=unseen_bearer)).status_code == 200
    assert (await guesser.get("/health")).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"token_failures_per_ip": LIMIT}])
async def test_dashboard_token_login_and_cookie_guesses_count(
        stack: Stack, clients: dict[str, httpx.AsyncClient]) -> None:
    guesser = clients["127.0.0.2"]
    for i in range(LIMIT - 1):
        r = await guesser.post("/ui/login", data={"kind": "token", "token": f"cb_guess-{i}"})
        assert r.status_code == 401
    r = await guesser.get("/ui/lockers", headers={"Cookie": "cb_session=cb_guess-cookie"})
    assert r.status_code == 303  # to the login page: the cookie is no session
    assert_429(await guesser.post("/ui/login", data={"kind": "token", "token": ADMIN_TOKEN}))


def test_guesses_are_counted_per_address_and_per_ipv6_block() -> None:
    assert address_key("127.0.0.2") == "ip:127.0.0.2"
    assert address_key("::ffff:127.0.0.2") == "ip:127.0.0.2"  # the same caller, mapped
    block = address_key("2001:db8:1:2::1")
    assert block == "ip:2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == block  # any address of the host's /64
    assert address_key("2001:db8:1:3::1") != block
    assert address_key("unknown") == "ip:unknown"
