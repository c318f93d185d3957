"""Every change of CONTRACT §8 writes its event in the change's transaction, with the resource
as an admin reads it; a change that fails writes none."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import utcnow
from app.events import outbox
from app.events.models import Event
from tests.care_plans.factories import new_care_plan, new_goal
from tests.conftest import Staff
from tests.referrals.factories import created, new_client, referral
from tests.session_records.conftest import Clinic, book, clinic  # noqa: F401  (fixture)
from tests.session_records.test_signing import completed_session
from tests.statements import captured


async def all_events(http: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["after"] = cursor
        response = await http.get("/v1/events", params=params, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return items
        items.extend(page["items"])
        cursor = page["next_cursor"]


async def new_events(
    http: httpx.AsyncClient, admin: dict[str, str], seen: int
) -> list[dict[str, Any]]:
    return (await all_events(http, admin))[seen:]


async def test_client_and_referral_events_carry_what_an_admin_reads(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin = staff.headers("admin")
    client_id = await new_client(client, staff.headers("front_desk"))
    events = await all_events(client, admin)
    assert [e["type"] for e in events] == ["client.created"]
    read = (await client.get(f"/v1/clients/{client_id}", headers=admin)).json()
    assert events[0]["resource_type"] == "client"
    assert events[0]["resource_id"] == client_id
    assert events[0]["data"] == read
    assert set(events[0]) == {"id", "type", "occurred_at", "resource_type", "resource_id", "data"}
    assert events[0]["occurred_at"].endswith("Z")

    changed = await client.patch(
        f"/v1/clients/{client_id}",
        json={"notes": "Prefers mornings"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert changed.status_code == 200
    body = referral(client_id, str(staff.referring_professional_id))
    ref = created(await client.post("/v1/referrals", json=body, headers=admin))
    patched = await client.patch(
        f"/v1/referrals/{ref['id']}",
        json={"status": "accepted"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    events = await new_events(client, admin, 1)
    assert [e["type"] for e in events] == ["client.updated", "referral.created", "referral.updated"]
    assert events[0]["data"] == changed.json()
    assert events[0]["data"]["notes"] == "Prefers mornings"
    # data is the admin's view: clinical fields a front desk never sees are there
    assert events[2]["data"]["diagnosis_codes"] == ["M54.5"]
    assert events[2]["data"]["status"] == "accepted"
    assert events[2]["data"] == patched.json()
    assert len({e["id"] for e in await all_events(client, admin)}) == 4


async def test_a_failed_change_writes_no_event(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    client_id = await new_client(client, admin)
    stale = await client.patch(
        f"/v1/clients/{client_id}", json={"notes": "x"}, headers={**admin, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    invalid = await client.post("/v1/clients", json={"given_name": ""}, headers=admin)
    assert invalid.status_code == 422
    assert [e["type"] for e in await all_events(client, admin)] == ["client.created"]


async def test_care_plan_events_only_on_creation_and_status_and_goal_updates(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin = staff.headers("admin")
    client_id = await new_client(client, admin)
    ref = created(
        await client.post(
            "/v1/referrals",
            json=referral(client_id, str(staff.referring_professional_id)),
            headers=admin,
        )
    )
    plan = await new_care_plan(client, admin, client_id, referral_ids=[ref["id"]])
    goal = await new_goal(client, admin, plan["id"])
    retitled = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"title": "Renamed"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert retitled.status_code == 200
    active = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"status": "active"},
        headers={**admin, "If-Match": '"2"'},
    )
    assert active.status_code == 200, active.text
    goal_patch = await client.patch(
        f"/v1/goals/{goal['id']}", json={"target_value": 2}, headers={**admin, "If-Match": '"1"'}
    )
    assert goal_patch.status_code == 200, goal_patch.text
    events = await new_events(client, admin, 2)
    assert [e["type"] for e in events] == [
        "care_plan.created",
        "care_plan.status_changed",
        "goal.updated",
    ]
    # the plan is read with its referral links, which the service writes after the plan row
    assert events[0]["data"]["referral_ids"] == [ref["id"]]
    assert events[0]["data"]["status"] == "draft"
    assert events[1]["data"] == active.json()
    assert events[2]["resource_type"] == "goal"
    assert events[2]["data"] == goal_patch.json()
    assert events[2]["data"]["target_value"] == 2


async def test_session_lifecycle_events(
    client: httpx.AsyncClient,
    clinic: Clinic,  # noqa: F811
) -> None:
    admin = clinic.staff.headers("admin")
    therapist = clinic.staff.headers("therapist")
    before = len(await all_events(client, admin))
    booked = await book(client, clinic, scheduled_start="2030-03-05T09:00:00Z")
    assert booked.status_code == 201
    moved = await client.patch(
        f"/v1/sessions/{booked.json()['id']}",
        json={"duration_minutes": 45},
        headers={**therapist, "If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    done = await completed_session(client, clinic)
    signed = await client.post(f"/v1/sessions/{done['id']}/sign", headers=therapist)
    assert signed.status_code == 200, signed.text
    addendum = await client.post(
        f"/v1/sessions/{done['id']}/addenda",
        json={"text": "Pain was 5/10, not 6/10", "reason": "typo"},
        headers=therapist,
    )
    assert addendum.status_code == 201, addendum.text
    events = await new_events(client, admin, before)
    assert [(e["type"], e["resource_id"]) for e in events] == [
        ("session.created", booked.json()["id"]),
        ("session.updated", booked.json()["id"]),
        ("session.created", done["id"]),
        ("session.completed", done["id"]),
        ("session.signed", done["id"]),
        ("session.addendum_added", done["id"]),
    ]
    assert all(e["resource_type"] == "session" for e in events)
    assert events[1]["data"] == moved.json()
    assert events[3]["data"]["soap"]["assessment"] == "Improving"
    assert events[3]["data"]["measurements"][0]["value"] == 5.5
    assert events[4]["data"]["note_status"] == "signed"
    assert events[4]["data"] == signed.json()
    # the addendum's event carries the session, with the new addendum in it
    final = (await client.get(f"/v1/sessions/{done['id']}", headers=admin)).json()
    assert events[5]["data"] == final
    assert [a["text"] for a in events[5]["data"]["addenda"]] == ["Pain was 5/10, not 6/10"]


async def test_archiving_a_client_is_an_update(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    client_id = await new_client(client, admin)
    assert (await client.delete(f"/v1/clients/{client_id}", headers=admin)).status_code == 204
    events = await all_events(client, admin)
    assert [e["type"] for e in events] == ["client.created", "client.updated"]
    assert events[1]["data"]["archived_at"] is not None


async def test_a_core_write_emits_its_event_in_its_transaction_under_the_sequencer(
    db: AsyncSession, connection: AsyncConnection, backend: str
) -> None:
    """`outbox.emit`, for writes made without the ORM: the event row goes in at once, in the
    caller's transaction, after the sequencer's lock on PostgreSQL, and a rollback takes it
    back with the change."""
    resource_id = uuid.uuid4()
    data = {"id": str(resource_id), "given_name": "Ada"}
    with captured(connection) as seen:
        await outbox.emit(db, "client.created", "client", resource_id, data)
    sent = [sql for sql, _ in seen if not sql.startswith(("SAVEPOINT", "BEGIN"))]
    assert [sql.split("(")[0].strip() for sql in sent] == (
        ["SELECT pg_advisory_xact_lock", "INSERT INTO events"]
        if backend == "postgresql"
        else ["INSERT INTO events"]
    )
    await db.rollback()
    assert (await db.scalars(select(Event).where(Event.resource_id == resource_id))).all() == []

    before = utcnow()
    await outbox.emit(db, "client.created", "client", resource_id, data)
    await db.commit()
    event = (await db.scalars(select(Event).where(Event.resource_id == resource_id))).one()
    assert (event.type, event.resource_type, event.data) == ("client.created", "client", data)
    assert before <= event.occurred_at <= utcnow()
