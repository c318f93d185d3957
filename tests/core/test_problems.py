"""Every error is an RFC 9457 problem document: framework errors, validation, crashes, size."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.core.routing import DbSession, TransactionalRoute
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


@pytest.mark.parametrize(
    "path", ["/v1/no-such-thing", "/nowhere", "/v1/clients/123/unknown/deeper"]
)
async def test_unknown_path_is_a_not_found_problem(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    body = assert_problem(response, 404, "not-found")
    assert body["title"] == "Not found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/health", {"GET"}),
        ("PUT", "/v1/clients", {"GET", "POST"}),
        ("POST", "/v1/audit-events", {"GET"}),
    ],
)
async def test_wrong_method_is_a_method_not_allowed_problem(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405, "method-not-allowed")
    # RFC 9110 §15.5.6: a 405 names the methods the resource does support
    assert allowed <= {m.strip() for m in response.headers["allow"].split(",")}


async def test_validation_error_lists_each_field(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.post(
        "/v1/clients",
        json={"family_name": "", "date_of_birth": "not-a-date", "shoe_size": 42},
        headers=staff.headers("admin"),
    )
    body = assert_problem(response, 422, "validation-error")
    locs = error_locs(body)
    assert ["body", "given_name"] in locs
    assert ["body", "family_name"] in locs
    assert ["body", "date_of_birth"] in locs
    assert ["body", "shoe_size"] in locs


async def test_query_validation_error(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.get("/v1/clients?limit=many", headers=staff.headers("admin"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", "limit"]]


async def test_bad_path_id_is_a_validation_problem(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.get("/v1/clients/not-a-uuid", headers=staff.headers("admin"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["path", "client_id"]]


@pytest.mark.parametrize(
    "raw", [b'{"given_name": "Sam", ', b"not json at all", b"", b"[1, 2]", b'"text"']
)
async def test_malformed_json_body_is_a_validation_problem(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, raw: bytes
) -> None:
    response = await client.post(
        "/v1/clients",
        content=raw,
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "validation-error")
    assert error_locs(body)
    assert await db.scalar(select(func.count()).select_from(Client)) == 0


@pytest.mark.parametrize("transactional", [True, False])
async def test_unexpected_exception_is_a_bare_500_problem(
    app: FastAPI, client: httpx.AsyncClient, transactional: bool
) -> None:
    async def explode() -> None:
        raise RuntimeError('SELECT password_hash FROM users WHERE email = "x"')

    if transactional:
        app.router.add_api_route("/v1/explode", explode, route_class_override=TransactionalRoute)
    else:
        app.add_api_route("/v1/explode", explode)

    response = await client.get("/v1/explode", headers={"X-Request-ID": "crash-1"})
    body = assert_problem(response, 500, "internal-error")
    assert response.headers["x-request-id"] == "crash-1"
    text = response.text
    for leak in ("SELECT", "password_hash", "Traceback", "RuntimeError", 'File "'):
        assert leak not in text
    assert set(body) == {"type", "title", "status", "detail"}


@pytest.mark.parametrize("transactional", [True, False])
async def test_unexpected_exception_is_logged_once_with_its_cause(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, transactional: bool
) -> None:
    async def explode() -> None:
        raise RuntimeError("the original cause")

    if transactional:
        app.router.add_api_route("/v1/explode", explode, route_class_override=TransactionalRoute)
    else:
        app.add_api_route("/v1/explode", explode)
    with caplog.at_level(logging.ERROR, logger="careplan"):
        assert (await client.get("/v1/explode")).status_code == 500
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is not None
    logged = logging.Formatter().formatException(records[0].exc_info)
    assert "RuntimeError: the original cause" in logged


async def test_database_error_does_not_leak_sql(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def bad_query(session: DbSession) -> None:
        await session.execute(text("SELECT no_such_column FROM no_such_table"))

    app.router.add_api_route("/v1/bad-query", bad_query, route_class_override=TransactionalRoute)
    response = await client.get("/v1/bad-query")
    assert_problem(response, 500, "internal-error")
    assert "no_such" not in response.text
    assert "SELECT" not in response.text


def _oversized_client_body() -> bytes:
    padding = "x" * (1_048_576 + 10)  # over 1 MiB
    return f'{{"given_name": "Big", "family_name": "Body", "notes": "{padding}"}}'.encode()


async def test_body_over_limit_with_content_length_is_413(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    raw = _oversized_client_body()
    response = await client.post(
        "/v1/clients",
        content=raw,
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    assert response.request.headers["content-length"] == str(len(raw))
    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar(select(func.count()).select_from(Client)) == 0


async def test_streamed_body_over_limit_is_413(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    raw = _oversized_client_body()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    response = await client.post(
        "/v1/clients",
        content=chunks(),
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar(select(func.count()).select_from(Client)) == 0


async def test_streamed_body_under_limit_is_accepted(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    raw = httpx.Request("POST", "/", json=factories.client(notes="n" * 9000)).content

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 1000):
            yield raw[start : start + 1000]

    response = await client.post(
        "/v1/clients",
        content=chunks(),
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


async def test_oversized_body_is_refused_before_authentication(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    response = await client.post(
        "/v1/clients",
        content=_oversized_client_body(),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")
    assert await db.scalar(select(func.count()).select_from(Client)) == 0


async def test_free_text_over_its_maximum_is_422(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.post(
        "/v1/clients", json=factories.client(notes="n" * 10_001), headers=staff.headers("admin")
    )
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["body", "notes"]]
