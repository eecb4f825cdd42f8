"""A property-based run (schemathesis + hypothesis) over chosen operations of a running app:
generated valid and invalid inputs, always authenticated, and no answer may be a 5xx or
one the OpenAPI document does not describe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES_PER_OPERATION = 4  # per generation mode (positive and negative)


async def fuzz(base_url: str, spec: dict[str, Any], headers: dict[str, str], home: Path,
               chosen: Callable[[str, str, dict[str, Any]], bool], budget: float
               ) -> tuple[list[str], dict[str, int]]:
    """Run every chosen (METHOD, path, operation); return the failures (a 5xx, or an answer the
    document does not describe: its status, or a body its schema refuses) and requests per op."""
    from urllib.parse import urlsplit

    from tests.api.conformance import Conformance

    conformance = Conformance(spec)
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(home / "hypothesis")  # keep its caches out of the work tree
    deadline = time.monotonic() + budget - 30  # the rest: one request per operation left

    def run() -> tuple[list[str], dict[str, int]]:
        import requests

        schema = schemathesis.openapi.from_dict(spec)
        failures: list[str] = []
        counts: dict[str, int] = {}
        unauthorized: list[str] = []
        session = requests.Session()
        session.headers.update(headers)
        for result in schema.get_all_operations():
            operation = result.ok()
            key = (operation.method.upper(), operation.path)
            if not chosen(*key, spec["paths"][operation.path][operation.method.lower()]):
                continue
            # Past the deadline (a loaded machine) each remaining operation still gets one
            # request: the run's point is that every operation is tried, the count is a budget.
            examples = 2 * EXAMPLES_PER_OPERATION if time.monotonic() <= deadline else 1
            label = f"{key[0]} {key[1]}"
            counts[label] = 0
            strategy = st.one_of(
                operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

            @settings(max_examples=examples, deadline=None, database=None,
                      derandomize=True, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def check(case: Any) -> None:
                if time.monotonic() > deadline and counts[label]:  # noqa: B023 (runs within this iteration)
                    return
                if case.query:
                    # A callback would POST to whatever URL was generated: never leave the machine.
                    case.query.pop("callback_url", None)
                # The run is always authenticated: generated credentials are replaced.
                case.headers = {k: v for k, v in (case.headers or {}).items()
                                if k.lower() not in ("authorization", "x-api-key")}
                case.headers.update(headers)
                response = case.call(base_url=base_url, session=session, timeout=10)
                counts[label] += 1  # noqa: B023 (check() runs within this iteration)
                # the run itself must always be authenticated; a login refusing generated
                # credentials (401 InvalidCredentials) is the operation's answer, not the run's
                if response.status_code == 401 and "InvalidCredentials" not in response.text:
                    unauthorized.append(label)  # noqa: B023
                body = response.request.body
                sent = f" body={body[:200]!r}" if body else ""
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} {case.method} {response.request.url}{sent}")
                path = urlsplit(response.request.url).path
                failures.extend(f"{problem} (sent {case.method} {response.request.url}{sent})"
                                for problem in conformance.check(case.method, path, response.status_code,
                                                                 _content_type(response.headers),
                                                                 response.content))

            check()
        assert not unauthorized, sorted(set(unauthorized))
        return failures, counts

    try:
        async with asyncio.timeout(budget):
            return await asyncio.to_thread(run)
    finally:
        set_hypothesis_home_dir(None)


def _content_type(headers: Any) -> str | None:
    """schemathesis keeps each header as a list of values (lower-case names)."""
    value = headers.get("content-type") or headers.get("Content-Type")
    return value[0] if isinstance(value, list) else value
