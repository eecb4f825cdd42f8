"""The OpenAPI document, corrected where FastAPI's generation says more than the API does.

Every route declares 422 ``ValidationError`` (:func:`api.errors.declare`), but an operation
whose inputs are all free text — no body, no required, typed or constrained parameter — has
nothing a request could get wrong: the document would promise an answer that never comes
(tests/api/test_openapi_walk.py provokes every documented status). Such operations lose it here,
once, when the document is first built — unless the route names a 422 of its own. And every
operation documents 413: the body limit answers it to any request, before any route.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.errors import VALIDATION, ErrorBody, body_schema

# api.middleware.BodyLimit answers it for any route's body, before the route sees it
TOO_LARGE = {"description": "`PayloadTooLarge`: the body is over the server's limit for it",
             "content": body_schema(ErrorBody)}
_CONSTRAINTS = ("enum", "const", "pattern", "format", "minLength", "maxLength", "minimum", "maximum")


def _free_text(schema: dict[str, Any]) -> bool:
    """A string anything can fill (``str | None`` included)."""
    options = schema.get("anyOf") or [schema]
    typed = [s for s in options if s.get("type") != "null"]
    return all(s.get("type") == "string" and not any(c in s for c in _CONSTRAINTS) for s in typed)


def can_be_invalid(operation: dict[str, Any]) -> bool:
    """Whether some request to ``operation`` fails its schema."""
    if "requestBody" in operation:
        return True
    return any(parameter.get("required") and parameter["in"] != "path"
               or not _free_text(parameter.get("schema", {}))
               for parameter in operation.get("parameters", []))


def truthful(document: dict[str, Any]) -> dict[str, Any]:
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = operation["responses"]
            only_validation = answers.get("422", {}).get("description") == VALIDATION
            if only_validation and not can_be_invalid(operation):
                answers.pop("422")
            answers.setdefault("413", TOO_LARGE)  # a body can come with any request
    return document


def install(app: FastAPI) -> None:
    """Serve the corrected document (built once, as FastAPI's own)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(generate())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
