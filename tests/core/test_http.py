"""HEAD, conditional GET, security headers and CORS, as a browser or a cache meets them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem

# headers that differ between any two responses, whatever the method
_PER_RESPONSE = {"x-request-id", "date", "content-security-policy"}
FRONTEND = "https://desk.clinic.example"


async def _new_client(http: httpx.AsyncClient, staff: Staff) -> dict[str, str]:
    created = await http.post(
        "/v1/clients", json=factories.client(), headers=staff.headers("admin")
    )
    assert created.status_code == 201, created.text
    return {"id": created.json()["id"], "etag": created.headers["etag"]}


def _get_paths(app: FastAPI) -> list[str]:
    """Every GET route of the app, path parameters filled with an id nobody has."""
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute) and "GET" in (route.methods or set()):
            out.append(re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path))
    return out


async def test_head_answers_every_get_route_with_its_headers_and_no_body(
    app: FastAPI, client: httpx.AsyncClient, staff: Staff
) -> None:
    paths = _get_paths(app)
    assert len(paths) > 30
    for path in [*paths, "/docs", "/redoc", "/openapi.json"]:
        got = await client.get(path, headers=staff.headers("admin"))
        head = await client.head(path, headers=staff.headers("admin"))
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        # the metrics count the request before: their length changes from one answer to the next
        varying = _PER_RESPONSE | ({"content-length"} if path == "/metrics" else set())
        strip = {k: v for k, v in got.headers.items() if k not in varying}
        assert {k: v for k, v in head.headers.items() if k not in varying} == strip, path


async def test_head_of_a_resource_carries_its_etag_and_length(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(client, staff)
    got = await client.get(f"/v1/clients/{made['id']}", headers=staff.headers("admin"))
    head = await client.head(f"/v1/clients/{made['id']}", headers=staff.headers("admin"))
    assert head.status_code == 200
    assert head.headers["etag"] == '"1"' == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""


async def test_if_none_match_with_the_current_etag_is_304(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(client, staff)
    path = f"/v1/clients/{made['id']}"
    for tag in ('"1"', 'W/"1"', '"7", "1"', "*"):
        for method in ("GET", "HEAD"):
            answer = await client.request(
                method, path, headers={**staff.headers("admin"), "If-None-Match": tag}
            )
            assert answer.status_code == 304, (tag, method)
            assert answer.headers["etag"] == '"1"'
            assert answer.content == b""
            assert "content-type" not in answer.headers
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-request-id"]


async def test_if_none_match_with_another_etag_is_the_whole_resource(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(client, staff)
    path = f"/v1/clients/{made['id']}"
    changed = await client.patch(
        path,
        json={"notes": "Prefers mornings"},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert changed.status_code == 200
    stale = await client.get(path, headers={**staff.headers("admin"), "If-None-Match": '"1"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == '"2"'
    assert stale.json()["notes"] == "Prefers mornings"
    fresh = await client.get(path, headers={**staff.headers("admin"), "If-None-Match": '"2"'})
    assert fresh.status_code == 304


async def test_if_none_match_does_not_turn_errors_into_304(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(client, staff)
    path = f"/v1/clients/{made['id']}"
    anonymous = await client.get(path, headers={"If-None-Match": "*"})
    assert_problem(anonymous, 401, "unauthorized")
    missing = await client.get(
        f"/v1/clients/{uuid.uuid4()}", headers={**staff.headers("admin"), "If-None-Match": "*"}
    )
    assert_problem(missing, 404, "not-found")


async def test_client_data_is_never_stored_by_caches(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(client, staff)
    for path in (f"/v1/clients/{made['id']}", "/v1/clients", "/fhir/R4/metadata"):
        answer = await client.get(path, headers=staff.headers("admin"))
        assert answer.headers["cache-control"] == "no-store", path
    assert (await client.get("/v1/clients")).headers["cache-control"] == "no-store"


async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    for path in ("/v1/health", "/v1/clients", "/docs", "/openapi.json", "/nowhere", "/"):
        answer = await client.get(path, headers=staff.headers("admin"))
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
    health = await client.get("/v1/health")
    assert "cache-control" not in health.headers
    assert "content-security-policy" not in health.headers


async def test_a_body_over_the_limit_still_carries_the_security_headers(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    answer = await client.post(
        "/v1/clients", content=b"x" * (1024 * 1024 + 1), headers=staff.headers("admin")
    )
    assert_problem(answer, 413, "payload-too-large")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
async def cors_app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    listed = settings.model_copy(
        update={"cors_origins_setting": f" {FRONTEND} , https://other.clinic.example/ "}
    )
    app = create_app(listed, sessionmaker=sessionmaker)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://careplan.test"
    ) as http:
        yield http


def _preflight(origin: str, method: str, headers: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_a_listed_origin_passes_preflight_and_reads_the_exposed_headers(
    cors_app: httpx.AsyncClient, staff: Staff
) -> None:
    made = await _new_client(cors_app, staff)
    path = f"/v1/clients/{made['id']}"
    preflight = await cors_app.options(
        path, headers=_preflight(FRONTEND, "PATCH", "authorization, content-type, if-match")
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == FRONTEND
    allowed_methods = preflight.headers["access-control-allow-methods"]
    assert "PATCH" in allowed_methods
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed

    patched = await cors_app.patch(
        path,
        json={"notes": "Prefers mornings"},
        headers={**staff.headers("admin"), "If-Match": made["etag"], "Origin": FRONTEND},
    )
    assert patched.status_code == 200
    assert patched.headers["access-control-allow-origin"] == FRONTEND
    exposed = {
        h.strip().lower() for h in patched.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "location", "x-request-id"} <= exposed

    post_preflight = await cors_app.options(
        "/v1/clients", headers=_preflight(FRONTEND, "POST", "idempotency-key")
    )
    assert post_preflight.status_code == 200
    created = await cors_app.post(
        "/v1/clients",
        json=factories.client(),
        headers={**staff.headers("admin"), "Origin": FRONTEND, "Idempotency-Key": "k-1"},
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == FRONTEND
    # the second listed origin, written with spaces and a trailing slash, is allowed too
    other = await cors_app.get(
        "/v1/clients", headers={**staff.headers("admin"), "Origin": "https://other.clinic.example"}
    )
    assert other.headers["access-control-allow-origin"] == "https://other.clinic.example"


async def test_an_origin_not_listed_gets_no_cors_header(
    cors_app: httpx.AsyncClient, staff: Staff
) -> None:
    for origin in (
        "https://evil.example",
        f"{FRONTEND}.evil.example",
        "http://desk.clinic.example",
    ):
        preflight = await cors_app.options(
            "/v1/clients", headers=_preflight(origin, "GET", "authorization")
        )
        assert_problem(preflight, 403, "forbidden")
        assert not [h for h in preflight.headers if h.startswith("access-control-")], origin
        answer = await cors_app.get(
            "/v1/clients", headers={**staff.headers("admin"), "Origin": origin}
        )
        assert answer.status_code == 200
        assert not [h for h in answer.headers if h.startswith("access-control-")], origin


async def test_a_listed_origin_may_not_send_headers_that_are_not_allowed(
    cors_app: httpx.AsyncClient,
) -> None:
    preflight = await cors_app.options(
        "/v1/clients", headers=_preflight(FRONTEND, "GET", "x-forged-role")
    )
    assert_problem(preflight, 403, "forbidden")
    assert "access-control-allow-origin" not in preflight.headers


async def test_without_listed_origins_no_origin_gets_cors_headers(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    preflight = await client.options(
        "/v1/clients", headers=_preflight(FRONTEND, "GET", "authorization")
    )
    assert preflight.status_code == 405
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    answer = await client.get("/v1/clients", headers={**staff.headers("admin"), "Origin": FRONTEND})
    assert answer.status_code == 200
    assert not [h for h in answer.headers if h.startswith("access-control-")]


def test_cors_origins_come_from_a_comma_separated_setting() -> None:
    listed = Settings(CAREPLAN_CORS_ORIGINS="https://a.example, ,https://b.example/")
    assert listed.cors_origins == ["https://a.example", "https://b.example"]
    assert Settings(CAREPLAN_CORS_ORIGINS="").cors_origins == []


@pytest.mark.parametrize("body", [b"\xff\xfe", b"\x80abc", b'{"given_name": "\xe9"}'])
async def test_a_json_body_that_is_not_utf8_is_422_never_400(
    client: httpx.AsyncClient, staff: Staff, body: bytes
) -> None:
    answer = await client.post(
        "/v1/clients",
        content=body,
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    problem = assert_problem(answer, 422, "validation-error")
    assert problem["errors"][0]["loc"][0] == "body"
