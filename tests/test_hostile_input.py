"""Hostile input on every `/v1` route, found by walking the app's own OpenAPI schema.

Every text field of every request body and every query parameter gets NUL and other control
characters, white space only, huge strings, out-of-range dates and timestamps (with offsets) and
values of the wrong JSON type. Each must come back as a 422 problem that names the field, with
no ERROR in the log and nothing stored. A route added later is walked the same way, without
editing this file (its path ids come from the route-rule table's world).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import Base
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs
from tests.test_route_rules import build_world, concrete_url

HUGE = "x" * 100_001  # sent as one character more than the field's documented maximum

# Cycled through per round: one round sends the i-th value of its kind to every field at once.
TEXT = [
    "\x00",
    "Sam\x00Rivera",
    "bell\x07",
    "\x1b[31mred",
    "next\x85line",
    "delete\x7f",
    "   ",
    "\t\r\n",
    "",
    "\u00a0\u2003",
    HUGE,
    "\ud800",
]
DATES: list[Any] = [
    "0001-01-01",
    "1899-12-31",
    "2201-01-01",
    "9999-12-31",
    "2026-02-30",
    0,
    "20260314",
    "2026-03-14T00:00:00Z",
    "\x00",
]
TIMESTAMPS: list[Any] = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1899-12-31T23:59:59Z",
    "1900-01-01T00:30:00+01:00",
    "2201-01-01T00:00:00Z",
    "2200-12-31T23:00:00-02:00",
    "2026-03-14T09:30:00",
    0,
    "0",
    "\x00",
]
INTEGERS: list[Any] = ["60", True, 1.5, "\x00", 10**30]
NUMBERS: list[Any] = ["7.5", True, "\x00", "NaN"]
BOOLEANS: list[Any] = [0, 1, "true", "\x00"]
UUIDS: list[Any] = ["\x00", "not-a-uuid", 0, "   "]
ROUNDS = max(len(TEXT), len(DATES), len(TIMESTAMPS))

# Query parameters arrive as text; a lone surrogate cannot be put in a URL.
QUERY_TEXT = [v for v in TEXT if v != "\ud800"]
QUERY_DATES = [v for v in DATES if isinstance(v, str)]
QUERY_TIMESTAMPS = [v for v in TIMESTAMPS if isinstance(v, str)]
QUERY_INTEGERS = ["abc", "1.5", "\x00", "", "1e3"]
QUERY_BOOLEANS = ["0", "1", "yes", "True", "", "\x00"]
QUERY_UUIDS = ["\x00", "not-a-uuid", ""]


class Schema:
    def __init__(self, openapi: dict[str, Any]) -> None:
        self.components: dict[str, Any] = openapi.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.resolve(schema["allOf"][0])
        options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1:  # Optional[X]
            return self.resolve(options[0])
        return schema

    def hostile(self, schema: dict[str, Any], round_no: int, in_query: bool = False) -> Any:
        """The round's hostile value for a value of this schema (None: nothing to try)."""
        schema = self.resolve(schema)
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "object" and "properties" in schema:
            return {
                name: value
                for name, prop in schema["properties"].items()
                if (value := self.hostile(prop, round_no, in_query)) is not None
            }
        if kind == "array":
            item = self.hostile(schema.get("items", {}), round_no, in_query)
            return None if item is None else [item]
        table: dict[tuple[Any, Any], list[Any]] = {
            ("string", "date"): QUERY_DATES if in_query else DATES,
            ("string", "date-time"): QUERY_TIMESTAMPS if in_query else TIMESTAMPS,
            ("string", "uuid"): QUERY_UUIDS if in_query else UUIDS,
            ("string", None): QUERY_TEXT if in_query else TEXT,
            ("string", "password"): QUERY_TEXT if in_query else TEXT,
            ("string", "email"): QUERY_TEXT if in_query else TEXT,
            ("integer", None): QUERY_INTEGERS if in_query else INTEGERS,
            ("number", None): QUERY_INTEGERS if in_query else NUMBERS,
            ("boolean", None): QUERY_BOOLEANS if in_query else BOOLEANS,
        }
        values = table.get((kind, fmt))
        if values is None:
            raise AssertionError(f"no hostile values for the schema {schema}")
        value = values[round_no % len(values)]
        if kind == "string" and fmt is None and not {"enum", "const"} & schema.keys():
            assert "maxLength" in schema, f"free text without a documented maximum: {schema}"
        if value is HUGE:  # one character over the documented maximum (enums have none)
            return "x" * (schema.get("maxLength", 5_000) + 1)
        return value


def expected_locs(value: Any, loc: list[str | int]) -> Iterator[list[str | int]]:
    """Where a validation problem must point for this hostile (nested) value."""
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from expected_locs(inner, [*loc, name])
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from expected_locs(inner, [*loc, index])
    else:
        yield loc


def v1_operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in sorted(openapi["paths"].items()):
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


async def count_rows(db: AsyncSession) -> dict[str, int]:
    counts = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = await db.scalar(select(func.count()).select_from(table)) or 0
    return counts


@pytest.fixture
async def hostile_setup(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], staff: Staff
) -> tuple[dict[str, Any], Any]:
    return app.openapi(), await build_world(sessionmaker, staff)


def _check_refused(response: httpx.Response, expected: list[list[str | int]], what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    body = assert_problem(response, 422, "validation-error")
    locs = error_locs(body)
    missing = [want for want in expected if not any(got[: len(want)] == want for got in locs)]
    assert not missing, f"{what}: accepted {missing}; the problem named only {locs}"


async def test_every_text_field_of_every_body_refuses_hostile_values(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    hostile_setup: tuple[dict[str, Any], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    openapi, world = hostile_setup
    schema = Schema(openapi)
    before = await count_rows(db)
    headers = {**staff.headers("admin"), "If-Match": '"1"'}
    walked = 0
    with caplog.at_level(logging.WARNING):
        for method, path, operation in v1_operations(openapi):
            content = operation.get("requestBody", {}).get("content", {})
            if not content:
                continue
            media_type, body_spec = next(iter(content.items()))
            url = concrete_url(path, world)
            for round_no in range(ROUNDS):
                value = schema.hostile(body_spec["schema"], round_no)
                if media_type == "application/x-www-form-urlencoded":
                    # form fields are text: a lone surrogate cannot be encoded, and an empty
                    # field is a field not sent
                    value = {k: v for k, v in value.items() if v not in ("\ud800", "")}
                    response = await client.request(method, url, headers=headers, data=value)
                else:
                    assert media_type == "application/json", f"{method} {path}: {media_type}"
                    # escaped JSON (ensure_ascii), so a lone surrogate arrives as `\ud800`
                    response = await client.request(
                        method,
                        url,
                        headers={**headers, "Content-Type": "application/json"},
                        content=json.dumps(value),
                    )
                expected = list(expected_locs(value, ["body"]))
                _check_refused(response, expected, f"{method} {path} round {round_no}")
                walked += 1
    assert walked >= 20 * ROUNDS, "the walk found fewer request bodies than the app has"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert await count_rows(db) == before


async def test_every_query_parameter_of_every_route_refuses_hostile_values(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    hostile_setup: tuple[dict[str, Any], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    openapi, world = hostile_setup
    schema = Schema(openapi)
    before = await count_rows(db)
    headers = {**staff.headers("admin"), "If-Match": '"1"'}
    walked = 0
    with caplog.at_level(logging.WARNING):
        for method, path, operation in v1_operations(openapi):
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            if not query:
                continue
            url = concrete_url(path, world)
            for round_no in range(ROUNDS):
                params = {
                    p["name"]: schema.hostile(p["schema"], round_no, in_query=True) for p in query
                }
                response = await client.request(method, url, params=params, headers=headers)
                expected: list[list[str | int]] = [["query", name] for name in params]
                _check_refused(response, expected, f"{method} {path} {params!r}"[:300])
                walked += 1
    assert walked >= 10 * ROUNDS, "the walk found fewer query parameters than the app has"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert await count_rows(db) == before
