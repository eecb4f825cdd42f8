"""Schema validation of OCPP payloads, per version, with the schemas compiled once.

The `ocpp` library validates with jsonschema in a thread pool (≈280 µs a call, see shared notes);
the same schemas compiled by fastjsonschema cost a few µs. A breach is reported with the
CALLERROR code its version spells for it (1.6 ``FormationViolation``, not the library's
``FormatViolation``). Which schemas and which spellings belong to a version is
:mod:`ocppj.versions`' business; this module only compiles and checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import fastjsonschema

from ocppj.errors import ErrorCodes
from ocppj.fast_check import FastCheck, fast_check
from ocppj.timestamps import is_date_time

Check = Callable[[Any], Any]


class SchemaViolation(Exception):
    """A payload that breaks its action's schema, with the CALLERROR code for it."""

    def __init__(self, code: str, description: str, rule: str | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.rule = rule  # the JSON schema keyword broken ("type", "required", ...)


def rule_codes(errors: ErrorCodes) -> dict[str, str]:
    """fastjsonschema rule -> CALLERROR code (OCPP-J 1.6 section 4.2.3, 2.0.1 section 4.3)."""
    codes = {"type": errors.type_constraint}
    codes.update(dict.fromkeys(("required", "minItems", "maxItems"), errors.occurrence))
    codes.update(dict.fromkeys(("enum", "maxLength", "minLength", "format", "minimum", "maximum",
                                "multipleOf", "pattern"), errors.property_constraint))
    return codes


ENUM_FORMAT = "one of "  # the name of a format that checks a string enum (see _compilable)


def _compilable(node: Any, formats: dict[str, Callable[[str], bool]]) -> Any:
    """The schema as it is compiled here, in one walk:

    - ``multipleOf`` is dropped (``multipleOf: 0.1`` of charging-profile limits: binary floats
      make 21.4 fail it);
    - each string ``enum`` becomes a ``format`` checked by set membership. fastjsonschema checks
      an enum as a chain of ``isinstance(v, str) and v == '…' or …``, one test per allowed value:
      a 1.6 MeterValues of nine samples (six enums each, up to 22 values) cost 30 µs, the largest
      item of a fleet's validation (23 µs this way). A format is checked only on strings, after
      the same ``type: string``, and breaks the same rule class (a PropertyConstraintViolation);
      its name is the enum's own message, so a CALLERROR's description reads as before
      ("… must be one of ['A', 'B']"), and :meth:`Validator.validate` names the rule ``enum``.
    """
    if isinstance(node, list):
        return [_compilable(v, formats) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _compilable(v, formats) for k, v in node.items() if k != "multipleOf"}
    allowed = node.get("enum")
    if (node.get("type") == "string" and "format" not in node and isinstance(allowed, list)
            and allowed and all(type(v) is str for v in allowed)):
        name = f"{ENUM_FORMAT}{allowed}"
        formats.setdefault(name, frozenset(allowed).__contains__)
        del node["enum"]
        node["format"] = name
    return node


class Validator:
    """Checks one version's payloads; each schema is compiled on first use (or :meth:`warm_up`)."""

    def __init__(self, schemas: Path, request_name: Callable[[str], str],
                 response_name: Callable[[str], str], errors: ErrorCodes) -> None:
        self.schemas = schemas
        self.request_name = request_name
        self.response_name = response_name
        self._errors = errors
        self._codes = rule_codes(errors)
        self._compiled: dict[str, tuple[FastCheck | None, Check]] = {}

    def schema_path(self, action: str, response: bool = False) -> Path:
        """The JSON schema file of an action's request (or response)."""
        name = self.response_name(action) if response else self.request_name(action)
        return self.schemas / f"{name}.json"

    def _check(self, action: str, response: bool) -> tuple[FastCheck | None, Check]:
        key = self.response_name(action) if response else self.request_name(action)
        checks = self._compiled.get(key)
        if checks is None:
            formats: dict[str, Callable[[str], bool]] = {"date-time": is_date_time}
            with open(self.schemas / f"{key}.json", encoding="utf-8") as f:
                original = json.load(f)
            check = fastjsonschema.compile(_compilable(original, formats), formats=formats)
            checks = self._compiled[key] = (fast_check(original, key), check)
        return checks

    def validate(self, action: str, payload: Any, response: bool = False) -> None:
        """Raise :class:`SchemaViolation` unless ``payload`` fits the action's request/response.
        The fast check (``ocppj.fast_check``) accepts most valid payloads; the compiled schema
        decides the rest and words what is wrong."""
        if type(payload) is not dict:
            raise SchemaViolation(self._errors.format, "payload must be a JSON object", "type")
        fast, check = self._check(action, response)
        if fast is not None and fast(payload):
            return
        try:
            check(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            rule = exc.rule
            if rule == "format" and str(exc.rule_definition).startswith(ENUM_FORMAT):
                rule = "enum"  # an enum checked as a format (_compilable)
            raise SchemaViolation(self._codes.get(rule or "", self._errors.format),
                                  exc.message, rule) from None

    def warm_up(self, actions: Iterable[str]) -> None:
        """Compile these actions' schemas up front so no peer pays for it on its first call."""
        for action in actions:
            self._check(action, False)
            self._check(action, True)
