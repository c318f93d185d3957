"""`Idempotency-Key` on POST: replays, reuse with another body, per caller, expiry, release."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.core.idempotency import IdempotencyRecord
from app.core.security import Role
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


def _key(staff: Staff, role: str, key: str) -> dict[str, str]:
    return {**staff.headers(role), "Idempotency-Key": key}


async def _clients_named(db: AsyncSession, family_name: str) -> int:
    rows = await db.scalars(select(Client.id).where(Client.family_name == family_name))
    return len(rows.all())


async def test_repeat_returns_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    body = factories.client(family_name="Replay")
    first = await client.post("/v1/clients", json=body, headers=_key(staff, "admin", "k-1"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/v1/clients", json=body, headers=_key(staff, "admin", "k-1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert await _clients_named(db, "Replay") == 1


async def test_same_json_written_differently_is_a_repeat(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    headers = {**_key(staff, "admin", "k-json"), "Content-Type": "application/json"}
    one = b'{"given_name": "Ana", "family_name": "Canon", "date_of_birth": "1990-01-02"}'
    two = b'{"date_of_birth":"1990-01-02","family_name":"Canon","given_name":"Ana"}'
    first = await client.post("/v1/clients", content=one, headers=headers)
    again = await client.post("/v1/clients", content=two, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert await _clients_named(db, "Canon") == 1


async def test_key_reused_with_another_body_or_path_is_422(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    headers = _key(staff, "admin", "k-reuse")
    first = await client.post(
        "/v1/clients", json=factories.client(family_name="Reuse"), headers=headers
    )
    assert first.status_code == 201
    other = await client.post(
        "/v1/clients",
        json=factories.client(family_name="Reuse", given_name="Other"),
        headers=headers,
    )
    assert_problem(other, 422, "idempotency-key-reused")
    elsewhere = await client.post("/v1/therapists", json=factories.therapist(), headers=headers)
    assert_problem(elsewhere, 422, "idempotency-key-reused")
    assert await _clients_named(db, "Reuse") == 1


async def test_keys_belong_to_one_caller(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    body = factories.client(family_name="PerCaller")
    by_admin = await client.post("/v1/clients", json=body, headers=_key(staff, "admin", "shared"))
    by_desk = await client.post(
        "/v1/clients", json=body, headers=_key(staff, "front_desk", "shared")
    )
    assert by_admin.status_code == by_desk.status_code == 201
    assert "idempotent-replayed" not in by_desk.headers
    assert by_admin.json()["id"] != by_desk.json()["id"]
    assert await _clients_named(db, "PerCaller") == 2


async def test_without_a_key_every_post_creates(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    body = factories.client(family_name="Unkeyed")
    for _ in range(2):
        response = await client.post("/v1/clients", json=body, headers=staff.headers("admin"))
        assert response.status_code == 201
    assert await _clients_named(db, "Unkeyed") == 2


@pytest.mark.parametrize(("length", "accepted"), [(1, True), (255, True), (256, False), (0, False)])
async def test_key_length_is_1_to_255(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, length: int, accepted: bool
) -> None:
    family = f"Len{length}"
    response = await client.post(
        "/v1/clients",
        json=factories.client(family_name=family),
        headers=_key(staff, "admin", "k" * length),
    )
    if accepted:
        assert response.status_code == 201, response.text
        assert await _clients_named(db, family) == 1
    else:
        body = assert_problem(response, 422, "validation-error")
        assert ["header", "Idempotency-Key"] in error_locs(body)
        assert await _clients_named(db, family) == 0


async def test_a_failed_request_releases_its_key(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    headers = _key(staff, "admin", "k-fails")
    invalid = await client.post("/v1/clients", json={"given_name": "Only"}, headers=headers)
    assert_problem(invalid, 422, "validation-error")
    valid = await client.post(
        "/v1/clients", json=factories.client(family_name="Released"), headers=headers
    )
    assert valid.status_code == 201, valid.text
    assert "idempotent-replayed" not in valid.headers


async def test_work_refused_by_a_rule_can_be_retried_with_the_same_key(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin = staff.headers("admin")
    therapist = await client.post(
        "/v1/therapists", json=factories.therapist(certifications=[]), headers=admin
    )
    pregnant = await client.post(
        "/v1/clients", json=factories.client(pregnancy_due_date="2031-01-01"), headers=admin
    )
    booking = {
        "client_id": pregnant.json()["id"],
        "therapist_id": therapist.json()["id"],
        "scheduled_start": "2030-06-03T10:00:00Z",
        "duration_minutes": 60,
        "session_type": "relaxation",
    }
    headers = _key(staff, "admin", "k-book")
    refused = await client.post("/v1/sessions", json=booking, headers=headers)
    assert_problem(refused, 409, "contraindicated")
    certified = await client.patch(
        f"/v1/therapists/{therapist.json()['id']}",
        json={"certifications": ["prenatal"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert certified.status_code == 200, certified.text
    booked = await client.post("/v1/sessions", json=booking, headers=headers)
    assert booked.status_code == 201, booked.text
    replay = await client.post("/v1/sessions", json=booking, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == booked.json()["id"]


def _actor(staff: Staff, role: str) -> str:
    return f"api_key:{staff.key_ids[Role(role)]}"


async def _stored(db: AsyncSession, **values: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "request_hash": hashlib.sha256(b"another request").hexdigest(),
        "created_at": now,
        "locked_at": now,
        "expires_at": now + dt.timedelta(hours=24),
        "response_status": 201,
        "response_headers": {"content-type": "application/json"},
        "response_body": b"{}",
        **values,
    }
    db.add(IdempotencyRecord(**row))
    await db.commit()


@pytest.mark.parametrize(("expires_in", "expired"), [(-1, True), (60, False)])
async def test_keys_expire_after_24_hours(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, expires_in: int, expired: bool
) -> None:
    now = dt.datetime.now(dt.UTC)
    await _stored(
        db,
        actor=_actor(staff, "admin"),
        key="k-old",
        created_at=now - dt.timedelta(hours=24),
        expires_at=now + dt.timedelta(seconds=expires_in),
    )
    response = await client.post(
        "/v1/clients", json=factories.client(), headers=_key(staff, "admin", "k-old")
    )
    if expired:
        assert response.status_code == 201, response.text
        keys = await db.scalars(
            select(IdempotencyRecord.id).where(IdempotencyRecord.expires_at <= now)
        )
        assert keys.all() == []  # purged
    else:
        assert_problem(response, 422, "idempotency-key-reused")


async def test_expiry_is_24_hours_from_the_first_request(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    before = dt.datetime.now(dt.UTC)
    response = await client.post(
        "/v1/clients", json=factories.client(), headers=_key(staff, "admin", "k-ttl")
    )
    after = dt.datetime.now(dt.UTC)
    assert response.status_code == 201
    row = await db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "k-ttl"))
    assert row is not None
    assert row.actor == _actor(staff, "admin")
    assert row.response_status == 201
    lifetime = dt.timedelta(hours=24)
    assert before + lifetime <= row.expires_at <= after + lifetime


@pytest.mark.parametrize(("locked_minutes_ago", "taken_over"), [(1, False), (6, True)])
async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    locked_minutes_ago: int,
    taken_over: bool,
) -> None:
    body = factories.client(family_name="Abandoned")
    first = await client.post("/v1/clients", json=body, headers=_key(staff, "admin", "probe"))
    stored = await db.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "probe"))
    assert stored is not None
    assert first.status_code == 201
    now = dt.datetime.now(dt.UTC)
    await _stored(
        db,
        actor=_actor(staff, "admin"),
        key="k-running",
        request_hash=stored.request_hash,
        locked_at=now - dt.timedelta(minutes=locked_minutes_ago),
        response_status=None,
        response_headers=None,
        response_body=None,
    )
    response = await client.post(
        "/v1/clients", json=body, headers=_key(staff, "admin", "k-running")
    )
    if taken_over:
        assert response.status_code == 201, response.text
        assert response.json()["id"] != first.json()["id"]
    else:
        assert_problem(response, 409, "conflict")


async def test_every_post_documents_the_header(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    posts = {path: ops["post"] for path, ops in schema["paths"].items() if "post" in ops}
    assert "/v1/clients" in posts
    for path, operation in posts.items():
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
    gets = [ops["get"] for ops in schema["paths"].values() if "get" in ops]
    for operation in gets:
        assert "Idempotency-Key" not in {p["name"] for p in operation.get("parameters", [])}
