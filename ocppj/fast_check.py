"""A fast first check of payloads: msgspec types built from the JSON schemas.

fastjsonschema's generated code checks a field at a time in Python: a 1.6 MeterValues of nine
samples cost 21 µs, the largest part of a fleet's validation; the same check by ``msgspec.convert``
against types built from the schema costs 2.5 µs. The fast check only ever *accepts*: a payload
it accepts is one the schema accepts; anything it rejects goes to fastjsonschema, which decides
and words the CALLERROR. So the types may be stricter than the schema (an ``integer`` here refuses
``1.0``, which the schema takes) but never looser, and a schema using anything not mapped below
(``pattern``, a ``uri`` format, non-string enums, an untyped value …) gets no fast check at all.
What fastjsonschema writes into a valid payload (a property's inline ``default``, 2.0.1's
``offline: false``), the fast check writes too. ``tests/ocppj/test_fast_check.py`` mutates valid
payloads of every schema of both versions and holds all of it.

Mapped: ``object`` (``properties``, ``required``, ``additionalProperties: false`` → unknown fields
refused), ``string`` (``maxLength``, string ``enum`` → ``Literal``, ``format: date-time`` checked
by the handlers' own parser), ``integer`` (``minimum``, ``maximum``), ``number`` (unbounded),
``boolean``, ``array`` (``items``, ``minItems``, ``maxItems``), local ``$ref``. ``multipleOf`` is ignored, as
the compiled schema ignores it (``ocppj.validation``).
"""

from __future__ import annotations

import copy
import keyword
import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from ocppj.timestamps import is_date_time

# Keys that change nothing about which payloads are valid.
_NOTES = frozenset({"description", "javaType", "comment", "title", "$schema", "$id", "definitions",
                    "multipleOf", "additionalItems", "default"})


FastCheck = Callable[[dict[str, Any]], bool]  # True: the schema accepts it; False: ask the schema


class _Unmapped(Exception):
    """The schema uses something the fast check does not map: it gets none."""


class DateTime:
    """A ``date-time`` string: msgspec hands it to :func:`_hook`, which asks :func:`is_date_time`."""


_ONE = DateTime()


def _hook(kind: type, value: Any) -> Any:
    if kind is DateTime and type(value) is str and is_date_time(value):
        return _ONE
    raise msgspec.ValidationError(f"not a {kind.__name__}")


class _Builder:
    """One schema's types; a definition named by several ``$ref`` is one type."""

    def __init__(self, root: dict[str, Any], name: str) -> None:
        self._root = root
        self._name = name
        self._refs: dict[str, Any] = {}
        self._count = 0

    def build(self, node: Any) -> Any:
        if not isinstance(node, dict):
            raise _Unmapped("schema node is not an object")
        unknown = set(node) - _NOTES - {"type", "$ref", "properties", "required", "additionalProperties",
                                        "maxLength", "enum", "format", "items", "minItems", "maxItems",
                                        "minimum", "maximum"}
        if unknown:
            raise _Unmapped(f"unmapped keys {sorted(unknown)}")
        if "$ref" in node:
            return self._ref(node)
        kind = node.get("type")
        if "enum" in node and kind != "string":  # msgspec's Literal would not see bool from int
            raise _Unmapped("an enum of another type than string")
        if kind == "object":
            return self._object(node)
        if kind == "string":
            return self._string(node)
        if kind == "number":
            if "minimum" in node or "maximum" in node:  # msgspec compares a bound as a float:
                raise _Unmapped("a bound of a number")  # 2**54 + 5 is not above 2**54 + 4 to it
            return float
        if kind == "integer":  # an integer bound of an integer (``minimum: 0.0`` is 0)
            low, high = node.get("minimum"), node.get("maximum")
            bounds = {k: v for k, v in (("ge", None if low is None else math.ceil(low)),
                                        ("le", None if high is None else math.floor(high))) if v is not None}
            return Annotated[int, msgspec.Meta(**bounds)] if bounds else int
        if kind == "boolean":
            return bool
        if kind == "array":
            item = self.build(node.get("items", None))
            sizes = {k: v for k, v in (("min_length", node.get("minItems")),
                                       ("max_length", node.get("maxItems"))) if v is not None}
            return Annotated[list[item], msgspec.Meta(**sizes)] if sizes else list[item]  # type: ignore[valid-type]
        raise _Unmapped(f"type {kind!r}")

    def _ref(self, node: dict[str, Any]) -> Any:
        ref = node["$ref"]
        if len(node) > 1 or not isinstance(ref, str) or not ref.startswith("#/definitions/"):
            raise _Unmapped(f"$ref {ref!r}")
        if ref not in self._refs:
            self._refs[ref] = None  # a definition that refers to itself is not mapped
            self._refs[ref] = self.build(self._root["definitions"][ref.rsplit("/", 1)[1]])
        elif self._refs[ref] is None:
            raise _Unmapped(f"recursive $ref {ref!r}")
        return self._refs[ref]

    def _string(self, node: dict[str, Any]) -> Any:
        allowed = node.get("enum")
        fmt = node.get("format")
        if allowed is not None:
            if not (isinstance(allowed, list) and allowed and all(type(v) is str for v in allowed)) or fmt:
                raise _Unmapped("enum")
            limit = node.get("maxLength")
            fitting = tuple(v for v in allowed if limit is None or len(v) <= limit)
            if not fitting:
                raise _Unmapped("an enum no value of which fits its maxLength")
            return Literal[fitting]
        if fmt is not None:
            if fmt != "date-time" or "maxLength" in node:
                raise _Unmapped(f"format {fmt!r}")
            return DateTime
        if "maxLength" in node:
            return Annotated[str, msgspec.Meta(max_length=node["maxLength"])]
        return str

    def _object(self, node: dict[str, Any]) -> Any:
        extra = node.get("additionalProperties", True)
        if extra not in (True, False):
            raise _Unmapped("additionalProperties as a schema")
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        if not required <= set(properties):
            raise _Unmapped("a required field without a schema")
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for index, (key, schema) in enumerate(properties.items()):
            field = key if key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("_") \
                else f"field_{index}"
            if field != key:
                rename[field] = key
            kind = self.build(schema)
            fields.append((field, kind) if key in required else (field, kind, msgspec.UNSET))
        self._count += 1
        fields.sort(key=lambda f: len(f) == 3)  # msgspec wants the required ones first
        return msgspec.defstruct(f"{self._name}_{self._count}", fields, forbid_unknown_fields=not extra,
                                 rename=rename or None)


Filler = Callable[[Any], None]


def _defaults(root: dict[str, Any], node: Any) -> Filler | None:
    """What fastjsonschema writes into a valid payload: a property's ``default`` when the property
    is missing and its own schema (not one it refers to) has one; a default written is not looked
    into. None where nothing below ``node`` has one."""
    while isinstance(node, dict) and "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    if not isinstance(node, dict):
        return None
    if node.get("type") == "array":
        item = _defaults(root, node.get("items"))
        if item is None:
            return None

        def each(value: Any) -> None:
            if type(value) is list:
                for element in value:
                    item(element)
        return each
    properties = node.get("properties", {}) if node.get("type") == "object" else {}
    own = [(key, sub["default"]) for key, sub in properties.items()
           if isinstance(sub, dict) and "default" in sub]
    below = [(key, filler) for key, sub in properties.items()
             if (filler := _defaults(root, sub)) is not None]
    if not own and not below:
        return None

    def fill(value: Any) -> None:
        if type(value) is not dict:
            return
        for key, filler in below:  # before the defaults: a default written is not looked into
            if key in value:
                filler(value[key])
        for key, default in own:
            if key not in value:
                value[key] = copy.deepcopy(default)
    return fill


def fast_check(schema: dict[str, Any], name: str) -> FastCheck | None:
    """A function that says True only of payloads ``schema`` accepts (False: ask the schema),
    or None when the schema uses something not mapped here."""
    try:
        kind = _Builder(schema, name).build(schema)
        msgspec.convert({}, kind, dec_hook=_hook)  # msgspec prepares a type on first use
    except msgspec.ValidationError:
        pass  # the empty payload is refused: the type is ready
    except (_Unmapped, TypeError):  # TypeError: msgspec cannot take the type (a bad bound)
        return None
    convert = msgspec.convert
    fill = _defaults(schema, schema)

    def check(payload: dict[str, Any]) -> bool:
        try:
            convert(payload, kind, dec_hook=_hook)
        except Exception:  # noqa: BLE001 - a refusal of any kind (a lone surrogate: UnicodeEncodeError) is the schema's to judge
            return False
        return True

    if fill is None:
        return check

    def check_and_fill(payload: dict[str, Any]) -> bool:
        if not check(payload):
            return False
        fill(payload)  # as the schema's own check would have
        return True

    return check_and_fill
