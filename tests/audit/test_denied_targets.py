"""A denied attempt is recorded with the resource and the client its path aims at, so
`GET /v1/audit-events?client_id=X` answers "who tried to see client X" — whatever the path holds."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service as audit_service
from app.care_plans.models import CarePlan, Goal
from app.clients.models import Client
from app.session_records.models import SessionRecord
from tests.conftest import Staff


@dataclass(frozen=True)
class Record:
    client_id: uuid.UUID
    other_client_id: uuid.UUID
    plan_id: uuid.UUID
    goal_id: uuid.UUID
    session_id: uuid.UUID


@pytest.fixture
async def record(sessionmaker: async_sessionmaker[AsyncSession], staff: Staff) -> Record:
    async with sessionmaker() as db:
        client = Client(given_name="Noor", family_name="Haddad")
        other = Client(given_name="Sam", family_name="Elsewhere")
        db.add_all([client, other])
        await db.flush()
        plan = CarePlan(client_id=client.id, title="Neck care", kind="therapeutic", status="active")
        db.add(plan)
        await db.flush()
        goal = Goal(
            care_plan_id=plan.id, description="Turn the head", measure="nprs", status="active"
        )
        start = dt.datetime(2030, 4, 2, 9, tzinfo=dt.UTC)
        session = SessionRecord(
            client_id=client.id,
            care_plan_id=plan.id,
            therapist_id=staff.therapist_id,
            scheduled_start=start,
            scheduled_end=start + dt.timedelta(minutes=60),
            duration_minutes=60,
            status="scheduled",
            session_type="therapeutic",
            body_regions=["neck"],
        )
        db.add_all([goal, session])
        await db.commit()
        return Record(client.id, other.id, plan.id, goal.id, session.id)


async def _events(client: httpx.AsyncClient, staff: Staff, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get(
        "/v1/audit-events", params={"limit": 200, **params}, headers=staff.headers("admin")
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_who_tried_to_see_a_client_is_answered_by_the_client_filter(
    client: httpx.AsyncClient, staff: Staff, record: Record
) -> None:
    attempts = [
        # (path, headers, expected status, resource type, resource id)
        (f"/v1/clients/{record.client_id}", {}, 401, "client", record.client_id),
        (
            f"/v1/clients/{record.client_id}",
            staff.headers("referrer"),
            403,
            "client",
            record.client_id,
        ),
        (
            f"/v1/sessions/{record.session_id}",
            staff.headers("referrer"),
            403,
            "session",
            record.session_id,
        ),
        (f"/v1/care-plans/{record.plan_id}", {}, 401, "care_plan", record.plan_id),
        (f"/v1/goals/{record.goal_id}", staff.headers("referrer"), 403, "goal", record.goal_id),
        (
            f"/v1/clients/{record.client_id}/export",
            staff.headers("front_desk"),
            403,
            "client",
            record.client_id,
        ),
        (f"/fhir/R4/Patient/{record.client_id}", {}, 401, "fhir:Patient", record.client_id),
        (f"/fhir/R4/Encounter/{record.session_id}", {}, 401, "fhir:Encounter", record.session_id),
    ]
    for n, (path, headers, status, _, _) in enumerate(attempts):
        answer = await client.get(path, headers={**headers, "X-Request-ID": f"aim-{n}"})
        assert answer.status_code == status, (path, answer.text)

    about_client = await _events(client, staff, client_id=str(record.client_id), action="denied")
    by_request = {e["request_id"]: e for e in about_client}
    for n, (path, _, status, resource_type, resource_id) in enumerate(attempts):
        event = by_request[f"aim-{n}"]
        assert event["resource_type"] == resource_type, path
        assert event["resource_id"] == str(resource_id), path
        assert event["client_id"] == str(record.client_id), path
        assert event["status"] == status
    assert len(about_client) == len(attempts)
    assert await _events(client, staff, client_id=str(record.other_client_id)) == []


async def test_a_denied_attempt_on_a_record_that_does_not_exist_names_no_client(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    nobody = uuid.uuid4()
    answer = await client.get(
        f"/v1/sessions/{nobody}", headers={**staff.headers("referrer"), "X-Request-ID": "aim-ghost"}
    )
    assert answer.status_code == 403
    event = next(
        e for e in await _events(client, staff, action="denied") if e["request_id"] == "aim-ghost"
    )
    assert event["resource_type"] == "session"
    assert event["resource_id"] == str(nobody)
    assert event["client_id"] is None


async def test_a_denied_attempt_on_a_path_without_a_resource_names_none(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    answer = await client.get("/v1/clients", headers={"X-Request-ID": "aim-list"})
    assert answer.status_code == 401
    event = next(
        e for e in await _events(client, staff, action="denied") if e["request_id"] == "aim-list"
    )
    assert event["resource_type"] is None
    assert event["resource_id"] is None
    assert event["client_id"] is None


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("/v1/clients/%00", "/v1/clients/%00"),
        ("/v1/clients/a%00b%01c%7F", "/v1/clients/a%00b%01c%7F"),
        ("/v1/clients/%C3%A9t%C3%A9", "/v1/clients/été"),
        ("/v1/sessions/%1B%5B31m", "/v1/sessions/%1B[31m"),
    ],
)
async def test_a_denied_request_with_odd_bytes_in_its_path_is_still_recorded(
    client: httpx.AsyncClient, staff: Staff, raw: str, stored: str
) -> None:
    request_id = f"odd-{uuid.uuid4().hex[:8]}"
    answer = await client.get(f"http://careplan.test{raw}", headers={"X-Request-ID": request_id})
    assert answer.status_code == 401
    events = [
        e for e in await _events(client, staff, action="denied") if e["request_id"] == request_id
    ]
    assert len(events) == 1
    assert events[0]["path"] == stored
    assert events[0]["resource_type"] in ("client", "session")
    assert events[0]["resource_id"] is None  # not an id at all


@pytest.mark.parametrize(
    ("path", "stored"),
    [
        ("/v1/clients/x\u0085y", "/v1/clients/x%C2%85y"),  # a two-byte control character
        ("/v1/clients/\ud800", "/v1/clients/%ED%A0%80"),  # an unpaired surrogate
        ("/v1/" + "a" * 600, "/v1/" + "a" * 496),  # the column holds 500 characters
        ("/v1/\x00" + "a" * 600, "/v1/%00" + "a" * 493),
    ],
)
def test_paths_are_stored_percent_encoded_and_cut_to_the_column(path: str, stored: str) -> None:
    assert audit_service.storable_path(path) == stored
