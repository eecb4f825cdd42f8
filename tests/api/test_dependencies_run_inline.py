"""No route of the app depends on a plain ``def`` (or is one): FastAPI runs those on a worker
thread, a thread hop per request for what is most often an attribute read (two of them were
~5 % of a REST command's CPU, issue #18)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant

from api.app import create_app
from chargebay.stack import Stack


def routes(items: list[Any]) -> Iterator[Any]:
    """Every route with a dependant, through included routers."""
    for route in items:
        if hasattr(route, "dependant"):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included router
        nested = included.routes if included is not None else getattr(route, "routes", None)
        if nested:
            yield from routes(nested)


def runs_on_a_thread(call: Any) -> bool:
    if call is None or inspect.isclass(call):
        return False  # a class (a request body model, a security scheme) is built inline
    # an instance with an async __call__ (a security scheme's, a dependency object) runs inline too
    return not (inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__))


def threaded(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if runs_on_a_thread(sub.call):
            yield f"{sub.call.__module__}.{sub.call.__qualname__}"
        yield from threaded(sub)


async def test_every_dependency_and_endpoint_runs_inline(stack: Stack) -> None:
    app = create_app(stack.central, stack.sim, stack.bridge, stack.sites)
    found = list(routes(app.routes))
    assert len(found) > 200  # the walk reached the included routers
    offenders = {f"{route.path}: {name}" for route in found for name in threaded(route.dependant)}
    offenders |= {f"{route.path}: endpoint {route.endpoint.__qualname__}" for route in found
                  if runs_on_a_thread(route.endpoint)}
    assert not offenders, sorted(offenders)
