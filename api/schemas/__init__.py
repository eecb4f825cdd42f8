"""The bodies of the ``/api/v1`` REST API, requests and answers, one module per resource.

Answers are declared field by field, so /docs and the OpenAPI document show what each route
returns; they hold exactly the fields the central system's reads (:mod:`csms.queries`) produce,
and timestamps stay the ISO 8601 UTC strings those reads format.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
Timestamp = str  # ISO 8601 UTC, "Z"-suffixed (csms.timeutil.iso)


class Paged(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int = Field(description="Items in the whole list.")
    page: int
    page_size: int
