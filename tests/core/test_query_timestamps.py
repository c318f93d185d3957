"""Timestamps in queries are RFC 3339 text, as the schema says: a number of seconds is 422."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


@pytest.mark.parametrize("value", ["0", "0.5", "1767225600", "-1"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/clients", "updated_since"),
        ("/v1/users", "updated_since"),
        ("/v1/audit-events", "updated_since"),
        ("/v1/audit-events", "from"),
        ("/v1/audit-events", "to"),
        ("/v1/sessions", "from"),
        ("/v1/sessions", "to"),
    ],
)
async def test_a_number_is_not_a_timestamp(
    client: httpx.AsyncClient, staff: Staff, path: str, name: str, value: str
) -> None:
    answer = await client.get(path, params={name: value}, headers=staff.headers("admin"))
    body = assert_problem(answer, 422, "validation-error")
    assert ["query", name] in error_locs(body)


@pytest.mark.parametrize("value", ["2026-01-31T09:00:00Z", "2026-01-31T09:00:00+01:00"])
async def test_rfc3339_timestamps_are_taken(
    client: httpx.AsyncClient, staff: Staff, value: str
) -> None:
    for path, name in (("/v1/clients", "updated_since"), ("/v1/audit-events", "from")):
        answer = await client.get(path, params={name: value}, headers=staff.headers("admin"))
        assert answer.status_code == 200, answer.text
