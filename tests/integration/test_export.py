"""`GET /v1/export`: NDJSON of every row as the admin reads it, archived rows included,
streamed in batches; filters; one audit event; unknown resources refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.export import service as export_service
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs
from tests.session_records.conftest import Clinic, clinic  # noqa: F401  (the fixture)


async def _export(http: httpx.AsyncClient, staff: Staff, **params: str) -> list[dict[str, Any]]:
    response = await http.get("/v1/export", params=params, headers=staff.headers("admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b"" or response.content.endswith(b"\n")
    return [orjson.loads(line) for line in response.content.splitlines()]


async def test_rows_as_the_admin_reads_them_with_archived_ones(
    client: httpx.AsyncClient,
    staff: Staff,
    clinic: Clinic,  # noqa: F811
) -> None:
    admin = staff.headers("admin")
    booked = await client.post("/v1/sessions", json=clinic.session(), headers=admin)
    assert booked.status_code == 201, booked.text
    archived = await client.post("/v1/clients", json=factories.client(), headers=admin)
    assert (
        await client.delete(f"/v1/clients/{archived.json()['id']}", headers=admin)
    ).status_code == 204

    lines = await _export(client, staff)
    types = {line["resource_type"] for line in lines}
    assert {"client", "therapist", "care_plan", "goal", "referral", "session"} <= types
    assert all(set(line) == {"resource_type", "data"} for line in lines)
    by_id = {(line["resource_type"], line["data"]["id"]): line["data"] for line in lines}
    assert len(by_id) == len(lines)  # every row once

    session_read = await client.get(f"/v1/sessions/{booked.json()['id']}", headers=admin)
    assert by_id[("session", booked.json()["id"])] == session_read.json()
    plan_read = await client.get(f"/v1/care-plans/{clinic.plan_id}", headers=admin)
    assert by_id[("care_plan", str(clinic.plan_id))] == plan_read.json()
    assert by_id[("care_plan", str(clinic.plan_id))]["referral_ids"] == [str(clinic.referral_id)]
    archived_row = by_id[("client", archived.json()["id"])]
    assert archived_row["archived_at"] is not None


async def test_chosen_resources_in_the_order_given(
    client: httpx.AsyncClient,
    staff: Staff,
    clinic: Clinic,  # noqa: F811
) -> None:
    lines = await _export(client, staff, resources="goals,clients,goals")
    types = [line["resource_type"] for line in lines]
    assert set(types) == {"goal", "client"}
    assert types == sorted(types, key=lambda t: 0 if t == "goal" else 1)
    assert len([t for t in types if t == "goal"]) == 1


@pytest.mark.parametrize("resources", ["clients,patients", "clients,", "", "Clients"])
async def test_unknown_resources_are_422(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, resources: str
) -> None:
    response = await client.get(
        "/v1/export", params={"resources": resources}, headers=staff.headers("admin")
    )
    body = assert_problem(response, 422, "validation-error")
    assert ["query", "resources"] in error_locs(body)
    events = await db.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
    assert events.all() == []


async def test_since_keeps_rows_changed_at_or_after_it(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin = staff.headers("admin")
    old = await client.post("/v1/clients", json=factories.client(given_name="Old"), headers=admin)
    new = await client.post("/v1/clients", json=factories.client(given_name="New"), headers=admin)
    since = new.json()["updated_at"]
    ids = {line["data"]["id"] for line in await _export(client, staff, since=since)}
    assert new.json()["id"] in ids
    assert old.json()["id"] not in ids
    later = dt.datetime.fromisoformat(since) + dt.timedelta(microseconds=1)
    ids = {line["data"]["id"] for line in await _export(client, staff, since=later.isoformat())}
    assert new.json()["id"] not in ids
    naive = await client.get("/v1/export", params={"since": "2030-01-01T00:00:00"}, headers=admin)
    assert_problem(naive, 422, "validation-error")


async def test_one_export_audit_event(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    for given in ("A", "B", "C"):
        await client.post(
            "/v1/clients", json=factories.client(given_name=given), headers=staff.headers("admin")
        )
    before = len((await db.scalars(select(AuditEvent))).all())
    await _export(client, staff, resources="clients")
    events = (await db.scalars(select(AuditEvent))).all()
    assert len(events) == before + 1
    exported = [e for e in events if e.action == "export"]
    assert len(exported) == 1
    assert exported[0].actor_id == staff.key_ids["admin"]  # type: ignore[index]


async def test_many_batches_export_every_row_once(
    client: httpx.AsyncClient, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_service, "BATCH_ROWS", 2)
    created = set()
    for n in range(7):
        response = await client.post(
            "/v1/clients", json=factories.client(given_name=f"N{n}"), headers=staff.headers("admin")
        )
        created.add(response.json()["id"])
    ids = [line["data"]["id"] for line in await _export(client, staff, resources="clients")]
    assert len(ids) == len(set(ids))
    assert created <= set(ids)
