"""The ``ocpp_version`` field of the YAML files (simulator templates, the bridge's bays).

Why a type of its own: YAML reads an unquoted ``ocpp_version: 1.6`` as the number 1.6, and a
plain ``Literal["1.6", "2.0.1"]`` then refuses what the user plainly meant."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, float | int) and not isinstance(value, bool) else value


OcppVersion = Annotated[Literal["1.6", "2.0.1"], BeforeValidator(_as_text)]
