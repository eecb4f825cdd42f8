"""``GET /api/v1/ocpp-versions/{ocpp_version}`` (issue #21): every CSMS-initiated action of a
version with a request schema a client can use on its own (no ``$ref`` left to resolve) and an
example that the schema, and the central system's own validator, both accept — what the
dashboard builds its command forms from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import jsonschema
import pytest

from chargebay.stack import Stack
from ocppj.versions import V16, V201
from tests.api.auth_helpers import ADMIN, assert_error, bearer, make_token


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=10) as client:
        yield client


async def test_each_version_lists_its_commands_with_schemas_that_stand_alone(http: httpx.AsyncClient) -> None:
    viewer = bearer((await make_token(http, "viewer"))["token"])
    for version in (V16, V201):
        r = await http.get(f"/api/v1/ocpp-versions/{version.name}", headers=viewer)
        assert r.status_code == 200, r.text
        document = r.json()
        assert (document["ocpp_version"], document["subprotocol"]) == (version.name, version.subprotocol)
        assert [c["action"] for c in document["commands"]] == sorted(version.csms_actions)
        assert document["charge_point_actions"] == sorted(version.cp_actions)
        for command in document["commands"]:
            schema = command["request_schema"]
            assert "$ref" not in json.dumps(schema) and "definitions" not in schema, command["action"]
            jsonschema.validate(command["example"], schema)
            version.validator.validate(command["action"], command["example"])
    reset = {c["action"]: c for c in r.json()["commands"]}["Reset"]["request_schema"]
    assert reset["properties"]["type"]["enum"] == ["Immediate", "OnIdle"]  # a 2.0.1 definition, written out


async def test_a_version_not_served_is_refused(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/v1/ocpp-versions/1.5", headers=ADMIN), 422, "ValidationError")
    assert_error(await http.get("/api/v1/ocpp-versions/1.6"), 401, "Unauthorized")
