"""A message's JSON schema as one self-contained document.

The 2.0.1 schemas refer to their own ``definitions`` (``{"$ref": "#/definitions/IdTokenType"}``);
whatever shows a schema elsewhere — an OpenAPI document, the dashboard's generated command forms —
has no resolver for them, so each reference is written out in place (the schemas have no cycles).
The 1.6 schemas have none and come out as they are, less their metadata.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Any

# Nothing refers to these once every reference is written out; no message has a field so named.
METADATA = frozenset({"$schema", "$id", "definitions"})


def written_out(node: Any, definitions: dict[str, Any], drop: Collection[str] = METADATA) -> Any:
    """``node`` with each ``#/definitions/...`` reference replaced by what it names, and every
    key in ``drop`` left out at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return written_out(definitions[ref.rsplit("/", 1)[1]], definitions, drop)
        return {k: written_out(v, definitions, drop) for k, v in node.items() if k not in drop}
    if isinstance(node, list):
        return [written_out(v, definitions, drop) for v in node]
    return node


@cache
def _document(path: Path, drop: frozenset[str]) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, Any] = written_out(raw, raw.get("definitions", {}), drop | METADATA)
    return found


def self_contained(path: Path, drop: Collection[str] = ()) -> dict[str, Any]:
    """The schema in ``path`` with its references written out and ``drop``'s keys (besides
    :data:`METADATA`) left out: a fresh copy, read once per process."""
    return copy.deepcopy(_document(path, frozenset(drop)))
