"""Request ids, health and readiness, Prometheus metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.core.db import create_engine, make_sessionmaker
from app.main import create_app
from tests import factories
from tests.conftest import Staff
from tests.conftest import test_settings as settings_for
from tests.core.problems import assert_problem


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/health", headers={"X-Request-ID": "abc-123.def:4_5"})
    assert response.headers["x-request-id"] == "abc-123.def:4_5"


async def test_request_id_is_generated_and_unique(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1/health")).headers["x-request-id"]
    second = (await client.get("/v1/health")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("unsafe", ["has spaces in it", "x" * 129, "<script>", ""])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, unsafe: str) -> None:
    response = await client.get("/v1/health", headers={"X-Request-ID": unsafe})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_request_id_on_problem_responses(client: httpx.AsyncClient) -> None:
    unauthorized = await client.get("/v1/clients", headers={"X-Request-ID": "rid-401"})
    assert_problem(unauthorized, 401, "unauthorized")
    assert unauthorized.headers["x-request-id"] == "rid-401"
    missing = await client.get("/v1/nothing-here", headers={"X-Request-ID": "rid-404"})
    assert missing.headers["x-request-id"] == "rid-404"


async def test_request_id_is_in_audit_events(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    created = await client.post(
        "/v1/clients",
        json=factories.client(),
        headers={**staff.headers("admin"), "X-Request-ID": "audit-rid-1"},
    )
    assert created.status_code == 201
    await client.get("/v1/clients", headers={**staff.headers("front_desk")})
    generated = (
        await client.get(f"/v1/clients/{created.json()['id']}", headers=staff.headers("therapist"))
    ).headers["x-request-id"]
    await client.get("/v1/clients", headers={"X-Request-ID": "denied-rid"})

    rows = (await db.execute(select(AuditEvent.request_id, AuditEvent.action))).all()
    pairs = {(r.request_id, r.action) for r in rows}
    assert ("audit-rid-1", "create") in pairs
    assert (generated, "read") in pairs
    assert ("denied-rid", "denied") in pairs
    assert all(r.request_id for r in rows)


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "unreachable",
    [
        "sqlite:////nonexistent-careplan-folder/deeper/careplan.db",
        "postgresql://postgres@127.0.0.1:1/careplan_nowhere",
    ],
)
async def test_not_ready_when_the_database_does_not_answer(unreachable: str) -> None:
    engine = create_engine(unreachable, pool_size=1)
    app = create_app(settings_for(unreachable), sessionmaker=make_sessionmaker(engine))
    try:
        async with _client_for(app) as http:
            response = await http.get("/v1/health/ready")
            assert response.status_code == 503
            assert response.json()["status"] != "ok"
            assert "Traceback" not in response.text
            # liveness does not depend on the database
            assert (await http.get("/v1/health")).status_code == 200
    finally:
        await engine.dispose()


def _client_for(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://careplan.test")


async def _metrics(client: httpx.AsyncClient) -> AsyncIterator[str]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for line in response.text.splitlines():
        yield line


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    therapist = f"/v1/therapists/{staff.therapist_id}"
    assert (await client.get(therapist, headers=staff.headers("admin"))).status_code == 200
    await client.get("/v1/health")
    await client.get("/v1/health")
    await client.get("/v1/no-such-route")

    lines = [line async for line in _metrics(client)]
    assert any(line.startswith("# TYPE careplan_http_requests_total counter") for line in lines)
    assert any(line.startswith("careplan_http_request_duration_seconds_bucket") for line in lines)
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("careplan_http_requests_total{")
    }
    health = 'careplan_http_requests_total{method="GET",route="/v1/health",status="200"}'
    assert samples[health] == 2.0
    by_template = (
        'careplan_http_requests_total{method="GET",route="/v1/therapists/{entry_id}",status="200"}'
    )
    assert samples[by_template] == 1.0
    # no label holds a raw id, so the number of series stays bounded
    assert not any(str(staff.therapist_id) in key for key in samples)
    assert 'careplan_http_requests_total{method="GET",route="unmatched",status="404"}' in samples
