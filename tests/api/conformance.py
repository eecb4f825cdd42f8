"""Does an answer match what the OpenAPI document says of its operation?

One checker for the walk (tests/api/test_openapi_walk.py) and the property-based run
(tests/fuzz.py): the status must be one the operation documents (exactly, or by its range:
``4XX``), and a JSON body must validate against the schema declared for that status and media
type. A document that says less than the API does is as wrong as one that says more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema

METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, as documented
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Conformance:
    """Checks answers against ``document``; remembers which (operation, status) were seen."""

    document: dict[str, Any]
    seen: set[tuple[str, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._patterns: list[tuple[re.Pattern[str], str, str]] = []
        for path in self.document["paths"]:
            pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
            for method in self.document["paths"][path]:
                if method in METHODS:
                    self._patterns.append((pattern, method.upper(), path))
        self._validators: dict[int, jsonschema.protocols.Validator] = {}

    def operations(self) -> list[Operation]:
        return [Operation(method.upper(), path, op) for path, item in self.document["paths"].items()
                for method, op in item.items() if method in METHODS]

    def operation(self, method: str, url_path: str) -> Operation | None:
        """The documented operation a request went to: of the templates that match, the one with a
        literal segment where the others have a parameter, earliest (as the app's routes are
        written to be matched: ``/ocpp/chargers/bulk/{operation}`` before
        ``/ocpp/chargers/{charger_id}/start-charger``)."""
        found = [path for pattern, documented_method, path in self._patterns
                 if documented_method == method.upper() and pattern.match(url_path)]
        if not found:
            return None
        path = min(found, key=lambda p: [segment.startswith("{") for segment in p.split("/")])
        return Operation(method.upper(), path, self.document["paths"][path][method.lower()])

    def check(self, method: str, url_path: str, status: int, content_type: str | None,
              body: bytes, *, known_only: bool = False) -> list[str]:
        """What is wrong with this answer (nothing: an empty list); recorded in ``problems``.
        ``known_only``: a request to no documented operation (a dashboard page) is not judged."""
        found = self.operation(method, url_path)
        if found is None:
            return [] if known_only else self._report([f"{method} {url_path}: no such documented operation"])
        answers = found.spec.get("responses", {})
        key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in answers), str(status))
        self.seen.add((found.label, key))  # a status a range documents counts for the range
        declared = answers.get(key)
        where = f"{found.label} -> {status}"
        if declared is None:
            return self._report([f"{where}: status not documented ({sorted(answers)}); body {body[:200]!r}"])
        media = (content_type or "").split(";")[0].strip()
        content = declared.get("content") or {}
        if not body:
            return []  # nothing sent: whatever the status documents, it told no untruth
        if not content:
            return self._report([f"{where}: documents no body, sent {media} {body[:120]!r}"])
        if media not in content:
            return self._report([f"{where}: {media or 'a body without a type'} not documented "
                                 f"({sorted(content)}): {body[:120]!r}"])
        schema = content[media].get("schema")
        if media != "application/json" or not schema:
            return []  # a declared non-JSON body (CSV, an event stream, metrics): its type is checked
        try:
            instance = json.loads(body)
        except ValueError:
            return self._report([f"{where}: not JSON: {body[:120]!r}"])
        errors = sorted(self._validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        return self._report([f"{where}: {'/'.join(map(str, e.path)) or '(body)'}: {e.message[:200]}"
                             for e in errors[:3]])

    def _validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        """One compiled validator per schema of the document (its dicts live as long as it does)."""
        found = self._validators.get(id(schema))
        if found is None:
            found = self._validators[id(schema)] = jsonschema.Draft202012Validator(
                {**schema, "components": self.document.get("components", {})})
        return found

    def _report(self, problems: list[str]) -> list[str]:
        self.problems.extend(problems)
        return problems
