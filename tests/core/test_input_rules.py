"""Input is strict, as the schema says: types, unknown query parameters, media types, and the
hostile values that used to reach the database and answer 500."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Client
from app.session_records.models import Addendum
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs
from tests.test_route_rules import build_world


async def _clients(db: AsyncSession) -> int:
    return await db.scalar(select(func.count()).select_from(Client)) or 0


# ---- strict types in bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/clients", factories.client(date_of_birth=0), ["body", "date_of_birth"]),
        ("/v1/clients", factories.client(date_of_birth=481_593_600), ["body", "date_of_birth"]),
        ("/v1/clients", factories.client(given_name=60), ["body", "given_name"]),
        ("/v1/therapists", factories.therapist(active=0), ["body", "active"]),
        ("/v1/therapists", factories.therapist(active="true"), ["body", "active"]),
        (
            "/v1/therapists",
            factories.therapist(license_expires_on=0),
            ["body", "license_expires_on"],
        ),
        (
            "/v1/sessions",
            {"duration_minutes": "60", "scheduled_start": "2030-03-04T09:00:00Z"},
            ["body", "duration_minutes"],
        ),
        ("/v1/sessions", {"duration_minutes": 60.0}, ["body", "duration_minutes"]),
        ("/v1/sessions", {"duration_minutes": True}, ["body", "duration_minutes"]),
        ("/v1/sessions", {"scheduled_start": 0}, ["body", "scheduled_start"]),
        ("/v1/care-plans", {"sessions_per_week": "2"}, ["body", "sessions_per_week"]),
    ],
)
async def test_values_of_the_wrong_json_type_are_422(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, path: str, body: Any, loc: list[str]
) -> None:
    response = await client.post(path, json=body, headers=staff.headers("admin"))
    assert loc in error_locs(assert_problem(response, 422, "validation-error"))
    assert await _clients(db) == 0


async def test_values_of_the_right_json_type_are_taken(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    therapist = await client.post(
        "/v1/therapists",
        json=factories.therapist(active=False, license_expires_on="2031-01-31"),
        headers=staff.headers("admin"),
    )
    assert therapist.status_code == 201, therapist.text
    assert therapist.json()["active"] is False
    assert therapist.json()["license_expires_on"] == "2031-01-31"
    response = await client.post(
        "/v1/clients",
        json=factories.client(given_name="  Sam  ", notes="Line one\n\tLine two"),
        headers=staff.headers("admin"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["given_name"] == "Sam"
    assert response.json()["notes"] == "Line one\n\tLine two"


# ---- the hostile values that used to answer 500 (issue 7, item 8) ---------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/v1/clients", factories.client(given_name="Sam\x00"), ["body", "given_name"]),
        ("POST", "/v1/clients", factories.client(notes="a\x00b"), ["body", "notes"]),
        ("POST", "/v1/clients", factories.client(family_name=" \t "), ["body", "family_name"]),
        ("POST", "/v1/therapists", factories.therapist(full_name="\x00"), ["body", "full_name"]),
        (
            "POST",
            "/v1/referring-professionals",
            factories.referring_professional(organization="Clinic\x1b[0m"),
            ["body", "organization"],
        ),
        (
            "POST",
            "/v1/users",
            {
                "email": "pat@clinic.example",
                "password": "p" * 12,
                "display_name": "P\x00",
                "role": "front_desk",
            },
            ["body", "display_name"],
        ),
        (
            "POST",
            "/v1/sessions",
            {"scheduled_start": "9999-12-31T23:00:00Z"},
            ["body", "scheduled_start"],
        ),
        (
            "POST",
            "/v1/sessions",
            {"scheduled_start": "0001-01-01T00:00:00+14:00"},
            ["body", "scheduled_start"],
        ),
    ],
)
async def test_hostile_bodies_are_422(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, Any],
    loc: list[str],
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.request(method, path, json=body, headers=staff.headers("admin"))
    assert loc in error_locs(assert_problem(response, 422, "validation-error"))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await _clients(db) == 0


async def test_a_hostile_addendum_is_422(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    world = await build_world(sessionmaker, staff)
    response = await client.post(
        f"/v1/sessions/{world.ids['session']}/addenda",
        json={"text": "Corrected\x00", "reason": "   "},
        headers=staff.headers("admin"),
    )
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    assert ["body", "text"] in locs
    assert ["body", "reason"] in locs
    assert await db.scalar(select(func.count()).select_from(Addendum)) == 0


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/v1/clients?q=Sam%00", ["query", "q"]),
        ("/v1/therapists?q=%00", ["query", "q"]),
        ("/v1/referring-professionals?q=%20%20", ["query", "q"]),
        ("/v1/sessions?from=0001-01-01T00:00:00%2B14:00", ["query", "from"]),
        ("/v1/sessions?to=9999-12-31T23:59:59-14:00", ["query", "to"]),
        ("/v1/sessions?from=2026-01-01T00:00:00", ["query", "from"]),
        ("/v1/audit-events?from=0001-01-01T00:00:00%2B14:00", ["query", "from"]),
        ("/v1/audit-events?to=1899-12-31T23:59:59Z", ["query", "to"]),
        ("/v1/clients?updated_since=0001-01-01T00:00:00%2B14:00", ["query", "updated_since"]),
        ("/v1/clients?updated_since=0", ["query", "updated_since"]),
        ("/v1/clients?updated_since=1700000000", ["query", "updated_since"]),
        ("/v1/clients?include_archived=0", ["query", "include_archived"]),
        ("/v1/clients?include_archived=1", ["query", "include_archived"]),
        ("/v1/clients?include_archived=yes", ["query", "include_archived"]),
        ("/v1/therapists?active=0", ["query", "active"]),
        ("/v1/therapists?active=True", ["query", "active"]),
        ("/v1/clients?cursor=%00", ["query", "cursor"]),
    ],
)
async def test_hostile_query_parameters_are_422(
    client: httpx.AsyncClient,
    staff: Staff,
    caplog: pytest.LogCaptureFixture,
    path: str,
    loc: list[str],
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get(path, headers=staff.headers("admin"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [loc]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/clients?include_archived=true",
        "/v1/clients?include_archived=false",
        "/v1/therapists?active=false&q=Ada",
        "/v1/clients?updated_since=1900-01-01T00:00:00Z",
        "/v1/clients?updated_since=2026-01-01T10:00:00%2B14:00",
        "/v1/sessions?from=1900-01-01T00:00:00Z&to=2200-12-31T23:59:59Z",
        "/v1/audit-events?from=2026-01-01T00:00:00-05:00",
    ],
)
async def test_well_formed_query_parameters_are_taken(
    client: httpx.AsyncClient, staff: Staff, path: str
) -> None:
    response = await client.get(path, headers=staff.headers("admin"))
    assert response.status_code == 200, response.text


async def test_a_timestamp_filter_with_an_offset_is_compared_in_utc(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    created = await client.post(
        "/v1/clients", json=factories.client(), headers=staff.headers("admin")
    )
    assert created.status_code == 201, created.text
    # the same instant as `updated_at`, written in another zone, still matches `>=`
    at = created.json()["updated_at"].replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(at).astimezone(dt.timezone(dt.timedelta(hours=-7)))
    response = await client.get(
        "/v1/clients", params={"updated_since": moment.isoformat()}, headers=staff.headers("admin")
    )
    assert [c["id"] for c in response.json()["items"]] == [created.json()["id"]]
    later = (moment + dt.timedelta(seconds=1)).isoformat()
    response = await client.get(
        "/v1/clients", params={"updated_since": later}, headers=staff.headers("admin")
    )
    assert response.json()["items"] == []


# ---- unknown query parameters (issue 11, item 9) ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/v1/sessions?patient_id={uuid.UUID(int=1)}", "patient_id"),
        ("/v1/clients?name=Sam", "name"),
        ("/v1/clients?Limit=5", "Limit"),
        ("/v1/therapists?actve=true", "actve"),
        ("/v1/audit-events?client=x", "client"),
        ("/v1/health?verbose=1", "verbose"),
        (f"/v1/clients/{uuid.UUID(int=1)}?expand=all", "expand"),
    ],
)
async def test_unknown_query_parameters_are_422(
    client: httpx.AsyncClient, staff: Staff, path: str, name: str
) -> None:
    response = await client.get(path, headers=staff.headers("admin"))
    body = assert_problem(response, 422, "validation-error")
    assert error_locs(body) == [["query", name]]
    assert "unknown query parameter" in body["errors"][0]["msg"]


async def test_a_typo_does_not_widen_a_session_filter(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    someone = uuid.uuid4()
    typo = await client.get(f"/v1/sessions?patient_id={someone}", headers=staff.headers("admin"))
    assert_problem(typo, 422, "validation-error")
    right = await client.get(f"/v1/sessions?client_id={someone}", headers=staff.headers("admin"))
    assert right.status_code == 200, right.text
    assert right.json()["items"] == []


async def test_unknown_query_parameters_on_a_write_change_nothing(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    response = await client.post(
        "/v1/clients?dry_run=true", json=factories.client(), headers=staff.headers("admin")
    )
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", "dry_run"]]
    assert await _clients(db) == 0


async def test_a_single_valued_query_parameter_given_twice_is_422(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    response = await client.get("/v1/clients?limit=1&limit=200", headers=staff.headers("admin"))
    body = assert_problem(response, 422, "validation-error")
    assert error_locs(body) == [["query", "limit"]]
    once = await client.get("/v1/clients?limit=1", headers=staff.headers("admin"))
    assert once.status_code == 200


async def test_declared_query_parameters_of_dependencies_are_known(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    # limit, cursor and updated_since come from the shared page dependency
    response = await client.get(
        "/v1/referrals?limit=5&updated_since=2026-01-01T00:00:00Z&include_archived=false"
        f"&client_id={uuid.uuid4()}&status=pending",
        headers=staff.headers("admin"),
    )
    assert response.status_code == 200, response.text


# ---- media types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "multipart/form-data",
    ],
)
async def test_a_json_body_without_a_json_content_type_is_415(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, content_type: str | None
) -> None:
    headers = staff.headers("admin")
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = await client.post(
        "/v1/clients", content=json.dumps(factories.client()).encode(), headers=headers
    )
    assert_problem(response, 415, "unsupported-media-type")
    assert await _clients(db) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
    ],
)
async def test_a_json_body_with_a_json_content_type_is_taken(
    client: httpx.AsyncClient, staff: Staff, content_type: str
) -> None:
    response = await client.post(
        "/v1/clients",
        content=json.dumps(factories.client()).encode(),
        headers={**staff.headers("admin"), "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


async def test_a_json_body_that_does_not_parse_stays_422(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    response = await client.post(
        "/v1/clients",
        content=b'{"given_name": "Sam",',
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation-error")
    assert await _clients(db) == 0


async def test_a_route_without_a_body_ignores_the_content_type(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    response = await client.get(
        "/v1/clients", headers={**staff.headers("admin"), "Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text


# ---- the login form --------------------------------------------------------------------------


async def _user(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.post(
        "/v1/users",
        json={
            "email": "pat@clinic.example",
            "password": "correct horse battery staple",
            "display_name": "Pat Desk",
            "role": "front_desk",
        },
        headers=staff.headers("admin"),
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("form", "loc"),
    [
        ({"username": "pat@clinic.example\x00", "password": "x"}, ["body", "username"]),
        ({"username": "pat@clinic.example", "password": "pass\x00word"}, ["body", "password"]),
        ({"username": "   ", "password": "x"}, ["body", "username"]),
        ({"username": "p" * 321, "password": "x"}, ["body", "username"]),
        (
            {"username": "pat@clinic.example", "password": "x", "grant_type": "code"},
            ["body", "grant_type"],
        ),
    ],
)
async def test_hostile_login_forms_are_422(
    client: httpx.AsyncClient,
    staff: Staff,
    caplog: pytest.LogCaptureFixture,
    form: dict[str, str],
    loc: list[str],
) -> None:
    await _user(client, staff)
    with caplog.at_level(logging.ERROR):
        response = await client.post("/v1/auth/token", data=form)
    assert error_locs(assert_problem(response, 422, "validation-error")) == [loc]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_login_form_of_an_oauth2_client_is_taken(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    await _user(client, staff)
    response = await client.post(
        "/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "pat@clinic.example",
            "password": "correct horse battery staple",
            "scope": "",
            "client_id": "",
            "client_secret": "",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
