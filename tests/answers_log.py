"""Every answer the suite's httpx clients get from chargebay for a documented operation must match the
OpenAPI document (tests/api/conformance.py: a status the operation lists, a body its schema
takes): a test whose request draws anything else fails there, with what does not match. So the
whole suite, not only the OpenAPI walk (tests/api/test_openapi_walk.py), holds the document to
what the API does.

With CHARGEBAY_ANSWERS_LOG=<file>, each answer is also appended to the file as (test, METHOD,
path, status, problems): the evidence behind the walk's ELSEWHERE table (statuses the walk does
not draw itself, and the test that does)."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from types import SimpleNamespace
from typing import Any

import httpx

from tests.api.conformance import Conformance

# the Server header of chargebay's answers: its REST API (uvicorn's), its websocket port's
OUR_SERVERS = ("uvicorn", "chargebay")


class UndocumentedAnswer(AssertionError):
    """An answer the OpenAPI document does not describe."""


@functools.cache
def conformance() -> Conformance:
    """The checker of the app's document, as the app builds it (built once per process)."""
    from api.app import create_app
    from common.settings import Settings

    return Conformance(create_app(SimpleNamespace(engine=None, settings=Settings())).openapi())  # type: ignore[arg-type]


def install() -> None:
    checker = conformance()
    target = os.environ.get("CHARGEBAY_ANSWERS_LOG")
    send = httpx.AsyncClient.send

    async def checked(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = await send(self, request, **kwargs)
        first = response.history[0] if response.history else response  # before any redirect
        problems: list[str] = []
        ours = first.headers.get("server") in OUR_SERVERS  # not a proxy's own page (haproxy's 503)
        if ours and not kwargs.get("stream"):
            problems = checker.check(request.method, request.url.path, first.status_code,
                                     first.headers.get("content-type"), await first.aread(), known_only=True)
        if target:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
            with open(target, "a") as out:
                out.write(json.dumps([test, request.method, request.url.path, first.status_code, problems]) + "\n")
        if problems:
            raise UndocumentedAnswer("the answer does not match the OpenAPI document: " + "; ".join(problems))
        return response

    httpx.AsyncClient.send = checked  # type: ignore[method-assign]


def log_for_the_elsewhere_check() -> None:
    """With CHARGEBAY_CHECK_ELSEWHERE (make test sets it for a whole run), the answers are logged
    to a file of the run (the test workers inherit its name), for :func:`elsewhere_unseen`."""
    if os.environ.get("CHARGEBAY_CHECK_ELSEWHERE") and not os.environ.get("CHARGEBAY_ANSWERS_LOG"):
        fd, path = tempfile.mkstemp(prefix="chargebay-answers-", suffix=".jsonl")
        os.close(fd)
        os.environ["CHARGEBAY_ANSWERS_LOG"] = path


def elsewhere_unseen() -> list[str]:
    """The statuses the OpenAPI walk leaves to other tests (tests/api/walk_elsewhere.py) that no
    answer of this run had: the table's claims, checked on every whole run."""
    from tests.api.walk_elsewhere import ELSEWHERE

    path = os.environ.get("CHARGEBAY_ANSWERS_LOG")
    if not path or not os.path.exists(path):
        return [f"no answers log ({path!r})"]
    seen: set[tuple[str, str]] = set()
    with open(path) as lines:
        for line in lines:
            _test, method, url_path, status, _problems = json.loads(line)
            op = conformance().operation(method, url_path)
            if op is not None:
                seen |= {(op.label, str(status)), (op.label, f"{str(status)[0]}XX")}
    return [f"{label} -> {status} (ELSEWHERE: {node})" for (label, status), node in sorted(ELSEWHERE.items())
            if (label, status) not in seen]
