"""The requests of the OpenAPI walk (tests/api/test_openapi_walk.py): for one documented
operation, a request that should draw each kind of answer — no credential, a role it refuses,
ids that name nothing, input its schema refuses, a valid call — built from the document alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.api.conformance import Operation

MISSING_INT = 987_654_321
MISSING_STR = "NO-SUCH-WALK"


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    has_body: bool = False


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        assert schema["$ref"].startswith("#/"), schema
        node: Any = spec
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    return schema


def body_examples(spec: dict[str, Any], op: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(media type, example, schema) for every example of the operation's request body."""
    found = []
    for media_type, media in op["requestBody"]["content"].items():
        schema = media.get("schema", {})
        resolved = resolve(spec, schema)
        if "example" in media:
            found.append((media_type, media["example"], schema))
        for named in (media.get("examples") or {}).values():
            found.append((media_type, resolve(spec, named)["value"], schema))
        for example in resolved.get("examples") or []:
            found.append((media_type, example, schema))
        if "example" in resolved:
            found.append((media_type, resolved["example"], schema))
    return found


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` resolved; of an ``X | None``, X's."""
    schema = resolve(document, schema)
    typed = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return _schema(document, typed[0]) if typed else schema


def _typed(document: dict[str, Any], parameter: dict[str, Any]) -> str:
    return str(_schema(document, parameter.get("schema", {})).get("type", "string"))


def example_body(document: dict[str, Any], op: dict[str, Any]) -> tuple[bool, Any]:
    """(has a JSON body, its first documented example or {})."""
    if "application/json" not in op.get("requestBody", {}).get("content", {}):
        return False, None
    return True, next((example for media, example, _ in body_examples(document, op)
                       if media == "application/json"), {})


def path_values(document: dict[str, Any], op: Operation, known: dict[str, str]) -> dict[str, str]:
    """A value for each path parameter: a known one by name, else one that names nothing."""
    values = {}
    for parameter in op.spec.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            values[name] = known.get(name) or (str(MISSING_INT) if _typed(document, parameter)
                                               in ("integer", "number") else MISSING_STR)
    return values


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), MISSING_STR), path)


def required_query(document: dict[str, Any], op: Operation) -> dict[str, Any]:
    """A plausible value for each required query parameter (its example or default, else 1/x)."""
    found: dict[str, Any] = {}
    for parameter in op.spec.get("parameters", []):
        if parameter["in"] == "query" and parameter.get("required"):
            schema = _schema(document, parameter.get("schema", {}))
            found[parameter["name"]] = parameter.get("example", schema.get(
                "default", 1 if schema.get("type") in ("integer", "number") else "x"))
    return found


def valid(document: dict[str, Any], op: Operation, known: dict[str, str]) -> Request:
    """A request as the document's examples describe it, to the ids in ``known``."""
    has_body, body = example_body(document, op.spec)
    return Request(op.method, fill(op.path, path_values(document, op, known)),
                   required_query(document, op), body, has_body)


def invalid(document: dict[str, Any], op: Operation, known: dict[str, str]) -> Request | None:
    """A request its schema refuses: a body of the wrong type, a number that is not one; None
    when the operation takes no input that can be wrong."""
    request = valid(document, op, known)
    broken = False
    if request.has_body:
        request.json, broken = [[["not", "an", "object"]]], True
    for parameter in op.spec.get("parameters", []):
        kind = _typed(document, parameter)
        if parameter["in"] == "query" and kind in ("integer", "number", "boolean"):
            request.params[parameter["name"]], broken = "not-a-number", True
    if not broken:  # a query value of a string that must be a date or one of a list
        for parameter in op.spec.get("parameters", []):
            constrained = _schema(document, parameter.get("schema", {}))
            if parameter["in"] == "query" and ("enum" in constrained or "format" in constrained):
                request.params[parameter["name"]], broken = "not-one-of-them", True
                break
            if parameter["in"] == "query" and "maxItems" in constrained:  # one value too many
                request.params[parameter["name"]] = [f"x{n}" for n in range(constrained["maxItems"] + 1)]
                broken = True
                break
    if not broken:
        for parameter in op.spec.get("parameters", []):
            if parameter["in"] == "path" and _typed(document, parameter) in ("integer", "number"):
                request.url = fill(op.path, {**path_values(document, op, known),
                                             parameter["name"]: "not-a-number"})
                broken = True
                break
    return request if broken else None


_REFERENCE_NAMES = {"chargebox", "charge_point_id", "identity", "lockid", "lockids",
                    "parent_id_tag", "userid", "groupid"}


def _is_reference(name: str) -> bool:
    return name in _REFERENCE_NAMES or name.endswith(("Id", "_id", "Ids", "_ids"))


def unreferenced(body: Any) -> Any:
    """``body`` with every reference to another resource (a field named for an id) naming none."""
    if isinstance(body, dict):
        return {key: (_missing_like(value) if _is_reference(key) else unreferenced(value))
                for key, value in body.items()}
    if isinstance(body, list):
        return [unreferenced(v) for v in body]
    return body


def _missing_like(value: Any) -> Any:
    if isinstance(value, list):
        return [_missing_like(v) for v in value] or [MISSING_STR]
    if isinstance(value, bool) or value is None:
        return value
    return MISSING_INT if isinstance(value, int) else MISSING_STR
