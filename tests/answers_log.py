"""Which test drew which documented answer, and does it match the document: with
CHARGEBAY_ANSWERS_LOG=<file>, every answer an httpx client in the suite gets is appended to the
file as (test, METHOD, path, status, problems) — problems as tests/api/conformance.py finds them
against the app's OpenAPI document. The evidence behind tests/api/test_openapi_walk.py's
ELSEWHERE table (statuses the walk cannot draw, and the test that does). Off unless the variable
is set: a tool, not a check."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

import httpx


def install() -> None:
    target = os.environ.get("CHARGEBAY_ANSWERS_LOG")
    if not target:
        return
    from api.app import create_app
    from common.settings import Settings
    from tests.api.conformance import Conformance

    document = create_app(SimpleNamespace(engine=None, settings=Settings())).openapi()  # type: ignore[arg-type]
    conformance = Conformance(document)
    send = httpx.AsyncClient.send

    async def logged(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await send(self, request, **kwargs)
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        problems: list[str] = []
        first = response.history[0] if response.history else response  # before any redirect
        if conformance.operation(request.method, request.url.path) is not None and not kwargs.get("stream"):
            body = await first.aread()
            problems = conformance.check(request.method, request.url.path, first.status_code,
                                         first.headers.get("content-type"), body)
        with open(target, "a") as out:
            out.write(json.dumps([test, request.method, request.url.path, first.status_code, problems]) + "\n")
        return response

    httpx.AsyncClient.send = logged  # type: ignore[method-assign]
