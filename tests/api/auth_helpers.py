"""Helpers of the REST authentication tests: every route of the app, tokens made over REST and
by the CLI, error answers checked for their code."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from chargebay.stack import Stack
from tests.conftest import ADMIN_TOKEN

BUDGET = 20.0  # hard bound on one test body
PUBLIC = {"/health", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
          "/api/auth/admin-login", "/api/auth/kiosk-login",  # logins are how one gets a token
          "/admin"}  # the locker gateway's admin interface: a redirect to the dashboard's login
# The vendor-compatible integration (README: "integration key") answers its own 403 code.
VENDOR_INTEGRATION = {"/integration/charges/stop", "/integration/charges/start",
                      "/latest/integration/charges/stop", "/latest/integration/charges/start"}
DUMMY = {"charge_point_id": "NO-SUCH-CP", "id_tag": "NO-SUCH-TAG", "transaction_id": "1",
         "token_id": "1", "command_id": "no-such-command", "action": "Reset"}


# -- helpers ----------------------------------------------------------------------------------
def is_dashboard(path: str) -> bool:
    """The dashboard's pages, login and files: a login page or a redirect to it without a session
    (tests/ui/test_session.py); its scripts call the routes checked here."""
    return path == "/" or path.startswith("/ui/")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)

def walk_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, looking inside included routers however FastAPI nests them."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from walk_routes(inner.routes)
        else:
            yield route


def app_operations(stack: Stack) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of the app, hidden ones (include_in_schema=False) included."""
    ops = set()
    for route in walk_routes(stack.app.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                ops.add((method, route.path))
    return ops


def fill(path: str) -> str:
    """Path parameters filled with dummies ("1" fits both string and integer parameters)."""
    return re.sub(r"\{(\w+)\}", lambda m: DUMMY.get(m.group(1), "1"), path)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


async def make_token(http: httpx.AsyncClient, role: str, name: str | None = None) -> dict[str, Any]:
    r = await http.post("/api/v1/tokens", json={"name": name or f"{role}-token", "role": role},
                        headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def cli_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEBAY_")}
    env["CHARGEBAY_DATABASE_URL"] = db_url
    return env


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    script = Path(sys.executable).parent / "chargebay"
    assert script.exists(), f"console script missing next to {sys.executable}"
    proc = await asyncio.create_subprocess_exec(
        str(script), *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()
