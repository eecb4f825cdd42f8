"""The fast first check (``ocppj.fast_check``) never accepts what the schema refuses, and accepts
what the schema accepts often enough to matter, for every schema of both versions.

For each schema two valid payloads are built from the schema itself (only the required fields;
every field), then mutated at every position (a field dropped, a value of each JSON type put in
its place, strings one past their maxLength, numbers past their bounds, arrays emptied and
overfilled, unknown fields added, timestamps broken). Each mutant the fast check accepts must be
one the compiled schema accepts (fastjsonschema, the judge that words CALLERRORs)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import fastjsonschema
import pytest

from ocppj.fast_check import fast_check
from ocppj.timestamps import is_date_time
from ocppj.validation import SchemaViolation, Validator
from ocppj.versions import V16, V201, Version

ODD_VALUES: list[Any] = [None, True, False, 0, -1, 7, 1.5, 10**20, "", "x", "Accepted", "2026-13-40T99:00:00Z",
                         "2026-12-05T04:00:00Z", [], [1], {}, {"a": 1}]


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def example(root: dict[str, Any], node: dict[str, Any], full: bool) -> Any:
    """A payload the schema accepts: the required fields only, or (``full``) every field."""
    node = _resolve(root, node)
    kind = node.get("type")
    if kind == "object":
        return {key: example(root, sub, full) for key, sub in node.get("properties", {}).items()
                if full or key in node.get("required", ())}
    if kind == "array":
        return [example(root, node["items"], full) for _ in range(max(node.get("minItems", 0), 1 if full else 0))]
    if kind == "string":
        if "enum" in node:
            return node["enum"][-1 if full else 0]
        if node.get("format") == "date-time":
            return "2026-12-05T04:00:00.123Z"
        return "v" * (node.get("maxLength", 8) if full else 1)
    if kind == "integer":
        return int(node.get("maximum", 3) if full else node.get("minimum", 0))
    if kind == "number":
        return node.get("minimum", 2.5)
    if kind == "boolean":
        return full
    raise AssertionError(f"unexpected schema node {node}")


def _edge_values(root: dict[str, Any], node: dict[str, Any]) -> list[Any]:
    node = _resolve(root, node)
    values = list(ODD_VALUES)
    if "maxLength" in node:
        values += ["w" * node["maxLength"], "w" * (node["maxLength"] + 1)]
    if "enum" in node:
        values += [node["enum"][0].lower(), node["enum"][0] + " "]
    for bound in ("minimum", "maximum"):
        if bound in node:
            values += [node[bound] - 1, node[bound] + 1, node[bound] - 0.5, node[bound] + 0.5, float(node[bound])]
    if node.get("type") == "array":
        item = example(root, node["items"], True)
        values += [[item] * node.get("maxItems", 2), [item] * (node.get("maxItems", 2) + 1), [item, None]]
    return values


def mutants(root: dict[str, Any], node: dict[str, Any], value: Any) -> Iterator[Any]:
    """``value`` changed at one position at a time, all the way down."""
    node = _resolve(root, node)
    yield from _edge_values(root, node)
    if node.get("type") == "object" and isinstance(value, dict):
        yield {**value, "unknownField": 1}
        for key, sub in node.get("properties", {}).items():
            if key in value:
                yield {k: v for k, v in value.items() if k != key}
                for changed in mutants(root, sub, value[key]):
                    yield {**value, key: changed}
    if node.get("type") == "array" and isinstance(value, list) and value:
        for changed in mutants(root, node["items"], value[0]):
            yield [changed, *value[1:]]


def schemas(version: Version) -> Iterator[tuple[str, dict[str, Any]]]:
    validator: Validator = version.validator
    for path in sorted(validator.schemas.glob("*.json")):
        with open(path, encoding="utf-8") as f:
            yield path.stem, json.load(f)


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_the_fast_check_accepts_only_what_the_schema_accepts(version: Version) -> None:
    checked = fast_paths = mutated = accepted = filled = 0
    for name, schema in schemas(version):
        fast = fast_check(schema, name)
        if fast is None:
            continue
        fast_paths += 1
        judge = fastjsonschema.compile(schema, formats={"date-time": is_date_time})
        for full in (False, True):
            valid = example(schema, schema, full)
            judged, sent = copy.deepcopy(valid), copy.deepcopy(valid)
            judge(judged)  # the builder's payload is a valid one
            assert fast(valid), (name, valid)  # and the fast check takes it: it is not idle
            assert valid == judged, name  # with the defaults the schema writes, and no others
            filled += valid != sent
            for mutant in mutants(schema, schema, valid):
                mutated += 1
                if not isinstance(mutant, dict):
                    continue
                mutant, judged = copy.deepcopy(mutant), copy.deepcopy(mutant)
                if not fast(mutant):
                    continue
                accepted += 1
                try:
                    judge(judged)
                except fastjsonschema.JsonSchemaValueException as exc:
                    raise AssertionError(f"{name}: fast check accepted {mutant}: {exc.message}") from None
                assert mutant == judged, name
            checked += 1
    assert fast_paths >= (75 if version is V16 else 110)
    assert mutated > 10 * checked and 0 < accepted < mutated  # mutants of both kinds were met
    assert (filled > 0) is (version is V201)  # 2.0.1's defaults were written by the fast check


def test_what_gets_no_fast_check() -> None:
    """A ``uri`` format, an untyped value: no fast check, so those payloads meet the schema alone."""
    assert {name for name, schema in schemas(V201) if fast_check(schema, name) is None} == {
        "DataTransferRequest", "DataTransferResponse"}  # their data is any JSON value
    assert {name for name, schema in schemas(V16) if fast_check(schema, name) is None} == {
        "GetDiagnostics", "UpdateFirmware"}  # their location is a uri


def test_the_defaults_the_schema_writes_are_written() -> None:
    """2.0.1's TransactionEvent has ``offline: false`` as an inline default: written when absent,
    left alone when sent; a default of a referenced definition (a sample's ``location``) is not
    written, by either check."""
    event = {"eventType": "Updated", "timestamp": "2026-12-05T04:00:00Z", "triggerReason": "MeterValuePeriodic",
             "seqNo": 1, "transactionInfo": {"transactionId": "t1"},
             "meterValue": [{"timestamp": "2026-12-05T04:00:00Z", "sampledValue": [{"value": 1.5}]}]}
    sent = copy.deepcopy(event)
    V201.validator.validate("TransactionEvent", sent)
    assert sent == {**event, "offline": False}
    offline = {**copy.deepcopy(event), "offline": True}
    V201.validator.validate("TransactionEvent", offline)
    assert offline["offline"] is True


def test_a_refused_payload_is_still_worded_by_the_schema() -> None:
    """The fast check turns a payload down; the CALLERROR is the schema's, as before."""
    samples = [{"value": "1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"}] * 9
    good = {"connectorId": 1, "meterValue": [{"timestamp": "2026-12-05T04:00:00Z", "sampledValue": samples}]}
    V16.validator.validate("MeterValues", good)
    bad = copy.deepcopy(good)
    bad["meterValue"][0]["sampledValue"][4]["unit"] = "Volt"
    with pytest.raises(Exception) as caught:
        V16.validator.validate("MeterValues", bad)
    assert getattr(caught.value, "code", None) == "PropertyConstraintViolation"
    assert "must be one of" in str(getattr(caught.value, "description", ""))


def _wrapped(field: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"f": field}, "required": ["f"], "additionalProperties": False}


@pytest.mark.parametrize("field, refused", [
    ({"type": "integer", "enum": [1, 2]}, 3),
    ({"type": "boolean", "enum": [True]}, False),
    ({"type": "number", "maximum": 2**54 + 4}, 2**54 + 5),
    ({"type": "string", "pattern": "^a"}, "b"),
    ({"type": "string", "format": "uri"}, "not a uri"),
])
def test_what_msgspec_would_judge_otherwise_gets_no_fast_check(field: dict[str, Any], refused: Any) -> None:
    """No shipped schema has these; a schema that did would get no fast check, since msgspec
    would accept the payload the schema refuses."""
    schema = _wrapped(field)
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        fastjsonschema.compile(schema)({"f": refused})
    assert fast_check(schema, "synthetic") is None


def test_a_payload_msgspec_cannot_read_is_the_schemas_to_judge() -> None:
    """A lone surrogate (no frame off the wire carries one: orjson refuses it) makes msgspec
    raise something else than a ValidationError: still a SchemaViolation, not a crash."""
    with pytest.raises(SchemaViolation):
        V16.validator.validate("UnlockConnector", {"connectorId": "\ud800"})
