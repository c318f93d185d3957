"""The audit trail: what is recorded, who may read it, the filters, and that it is append-only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.audit.service import AuditAction
from app.core.security import Role
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


async def _events(client: httpx.AsyncClient, staff: Staff, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            "/v1/audit-events", params=query, headers=staff.headers("admin")
        )
        assert response.status_code == 200, response.text
        items.extend(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


def _one(events: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [e for e in events if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, events)
    return found[0]


async def test_client_reads_and_writes_are_recorded(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    desk = staff.headers("front_desk")
    created = await client.post(
        "/v1/clients", json=factories.client(), headers={**desk, "X-Request-ID": "rid-create"}
    )
    cid = created.json()["id"]
    url = f"/v1/clients/{cid}"
    await client.get(url, headers=staff.headers("therapist"))
    await client.patch(url, json={"notes": "n"}, headers={**desk, "If-Match": '"1"'})
    await client.get("/v1/clients", headers=desk)
    await client.delete(url, headers=staff.headers("admin"))

    events = await _events(client, staff, client_id=cid)
    assert [e["action"] for e in events] == ["create", "read", "update", "read", "delete"]
    assert all(e["resource_type"] == "client" for e in events)
    assert all(e["resource_id"] == cid and e["client_id"] == cid for e in events)
    create = events[0]
    assert create["actor_type"] == "api_key"
    assert create["actor_id"] == str(staff.key_ids[Role.front_desk])
    assert create["role"] == "front_desk"
    assert create["request_id"] == "rid-create"
    assert create["ip"] == "127.0.0.1"
    assert create["method"] == "POST"
    assert create["path"] == "/v1/clients"
    assert create["at"].endswith("Z")
    assert events[1]["actor_id"] == str(staff.key_ids[Role.therapist])
    assert events[1]["role"] == "therapist"
    assert events[4]["role"] == "admin"


async def test_precaution_and_consent_events_carry_the_client(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    cid = (
        await client.post("/v1/clients", json=factories.client(), headers=staff.headers("admin"))
    ).json()["id"]
    precaution = (
        await client.post(
            f"/v1/clients/{cid}/precautions",
            json=factories.precaution(),
            headers=staff.headers("therapist"),
        )
    ).json()
    await client.get(f"/v1/precautions/{precaution['id']}", headers=staff.headers("front_desk"))
    await client.get(f"/v1/clients/{cid}/precautions", headers=staff.headers("admin"))
    consent = (
        await client.post(
            f"/v1/clients/{cid}/consents",
            json={"kind": "treatment", "granted_on": "2026-01-05"},
            headers=staff.headers("front_desk"),
        )
    ).json()
    await client.post(f"/v1/consents/{consent['id']}/revoke", headers=staff.headers("admin"))

    events = await _events(client, staff, client_id=cid)
    summary = [(e["action"], e["resource_type"], e["resource_id"]) for e in events]
    assert summary == [
        ("create", "client", cid),
        ("create", "precaution", precaution["id"]),
        ("read", "precaution", precaution["id"]),
        ("read", "precaution", None),
        ("create", "consent", consent["id"]),
        ("update", "consent", consent["id"]),
    ]


async def test_failed_writes_leave_no_event(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    before = await db.scalar(select(func.count()).select_from(AuditEvent))
    response = await client.post(
        "/v1/clients", json=factories.client(given_name=""), headers=staff.headers("admin")
    )
    assert response.status_code == 422
    after = await db.scalar(select(func.count()).select_from(AuditEvent))
    assert after == before


async def test_login_is_recorded(client: httpx.AsyncClient, staff: Staff) -> None:
    user = (
        await client.post(
            "/v1/users",
            json={
                "email": "kim@clinic.example",
                "password": "a long enough password",
                "display_name": "Kim",
                "role": "admin",
            },
            headers=staff.headers("admin"),
        )
    ).json()
    login = await client.post(
        "/v1/auth/token",
        data={"username": "kim@clinic.example", "password": "a long enough password"},
    )
    assert login.status_code == 200
    event = _one(await _events(client, staff, action="login"), actor_id=user["id"])
    assert event["actor_type"] == "user"
    assert event["role"] == "admin"
    assert event["resource_type"] == "user"
    assert event["resource_id"] == user["id"]


async def test_denied_requests_are_recorded(client: httpx.AsyncClient, staff: Staff) -> None:
    await client.get("/v1/clients", headers={"X-Request-ID": "rid-anon"})
    await client.get(
        "/v1/clients", headers={"Authorization": "Bearer cpk_nope", "X-Request-ID": "rid-bad"}
    )
    await client.get(
        "/v1/clients", headers={**staff.headers("referrer"), "X-Request-ID": "rid-ref"}
    )
    await client.post(
        "/v1/clients/00000000-0000-0000-0000-000000000000/precautions",
        json=factories.precaution(),
        headers={**staff.headers("front_desk"), "X-Request-ID": "rid-desk"},
    )

    denied = await _events(client, staff, action="denied")
    anon = _one(denied, request_id="rid-anon")
    assert anon["actor_id"] is None
    assert anon["actor_type"] is None
    assert anon["status"] == 401
    assert anon["path"] == "/v1/clients"
    assert anon["method"] == "GET"
    assert _one(denied, request_id="rid-bad")["status"] == 401
    referrer = _one(denied, request_id="rid-ref")
    assert referrer["status"] == 403
    assert referrer["actor_id"] == str(staff.key_ids[Role.referrer])
    assert referrer["role"] == "referrer"
    desk = _one(denied, request_id="rid-desk")
    assert desk["status"] == 403
    assert desk["actor_id"] == str(staff.key_ids[Role.front_desk])
    assert desk["method"] == "POST"


async def test_audit_events_are_admin_only(client: httpx.AsyncClient, staff: Staff) -> None:
    for role in ("therapist", "front_desk", "referrer"):
        assert_problem(
            await client.get("/v1/audit-events", headers=staff.headers(role)), 403, "forbidden"
        )
    assert_problem(await client.get("/v1/audit-events"), 401, "unauthorized")


async def test_audit_event_filters(client: httpx.AsyncClient, staff: Staff) -> None:
    first = (
        await client.post(
            "/v1/clients", json=factories.client(), headers=staff.headers("front_desk")
        )
    ).json()["id"]
    second = (
        await client.post("/v1/clients", json=factories.client(), headers=staff.headers("admin"))
    ).json()["id"]
    for cid in (first, second, first):
        await client.get(f"/v1/clients/{cid}", headers=staff.headers("therapist"))

    by_client = await _events(client, staff, client_id=first)
    assert [e["action"] for e in by_client] == ["create", "read", "read"]

    therapist = str(staff.key_ids[Role.therapist])
    by_actor = await _events(client, staff, actor_id=therapist)
    assert [e["client_id"] for e in by_actor] == [first, second, first]
    assert all(e["actor_id"] == therapist for e in by_actor)

    creates = await _events(client, staff, action="create")
    assert {e["client_id"] for e in creates if e["resource_type"] == "client"} == {first, second}
    assert all(e["action"] == "create" for e in creates)
    combined = await _events(client, staff, action="read", client_id=second)
    assert len(combined) == 1

    # from is inclusive, to exclusive: [from, to)
    reads = by_actor
    window = await _events(
        client, staff, actor_id=therapist, **{"from": reads[1]["at"], "to": reads[2]["at"]}
    )
    assert [e["id"] for e in window] == [reads[1]["id"]]
    since = await _events(client, staff, actor_id=therapist, **{"from": reads[1]["at"]})
    assert [e["id"] for e in since] == [reads[1]["id"], reads[2]["id"]]
    until = await _events(client, staff, actor_id=therapist, to=reads[1]["at"])
    assert [e["id"] for e in until] == [reads[0]["id"]]

    all_events = await _events(client, staff)
    keys = [(e["at"], e["id"]) for e in all_events]
    assert len({e["id"] for e in all_events}) == len(all_events)
    paged = await _events(client, staff, limit=2)
    assert [(e["at"], e["id"]) for e in paged] == keys


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"action": "delete_everything"}, "action"),
        ({"client_id": "someone"}, "client_id"),
        ({"actor_id": "123"}, "actor_id"),
        ({"from": "last week"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"to": "2026-01-01T00:00:00"}, "to"),
    ],
)
async def test_bad_audit_filters_are_422(
    client: httpx.AsyncClient, staff: Staff, params: dict[str, str], loc: str
) -> None:
    response = await client.get("/v1/audit-events", params=params, headers=staff.headers("admin"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", loc]]


async def test_audit_events_cannot_be_changed_or_deleted(
    backend: str, db: AsyncSession, client: httpx.AsyncClient, staff: Staff
) -> None:
    await client.post("/v1/clients", json=factories.client(), headers=staff.headers("admin"))
    count = await db.scalar(select(func.count()).select_from(AuditEvent))
    assert count
    statements = ["UPDATE audit_events SET action = 'read'", "DELETE FROM audit_events"]
    if backend == "postgresql":  # SQLite has no TRUNCATE
        statements.append("TRUNCATE audit_events")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin_nested():
                await db.execute(text(statement))
    assert await db.scalar(select(func.count()).select_from(AuditEvent)) == count
    event_id = await db.scalar(select(AuditEvent.id).limit(1))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin_nested():
            await db.execute(
                update(AuditEvent).where(AuditEvent.id == event_id).values(actor_id=uuid.uuid4())
            )


async def test_reads_recorded_outside_a_read_request_join_its_transaction(
    db: AsyncSession,
) -> None:
    """Outside a GET (a script, a command), `record_each` writes one event per row read into
    the caller's own transaction instead of handing them to the group-commit writer."""
    rows = [(uuid.uuid4(), uuid.uuid4()), (uuid.uuid4(), None)]
    await audit_service.record_each(db, audit_service.NO_ACTOR, AuditAction.read, "client", rows)
    recorded = await db.execute(
        select(AuditEvent.resource_id, AuditEvent.client_id, AuditEvent.action).where(
            AuditEvent.resource_id.in_([resource for resource, _ in rows])
        )
    )
    assert sorted(recorded.all(), key=str) == sorted(
        [(resource, client, "read") for resource, client in rows], key=str
    )
    assert audit_service.take_deferred(db) == []


async def test_a_page_of_clients_records_one_full_event_per_client(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    """The events of a page share their request's columns and each has its own id and client."""
    ids = []
    for _ in range(3):
        created = await client.post(
            "/v1/clients", json=factories.client(), headers=staff.headers("admin")
        )
        ids.append(created.json()["id"])
    desk = staff.headers("front_desk")
    page = await client.get("/v1/clients?limit=2", headers={**desk, "X-Request-ID": "rid-page"})
    assert [item["id"] for item in page.json()["items"]] == ids[:2]

    events = await _events(client, staff, action="read")
    assert sorted(e["client_id"] for e in events) == sorted(ids[:2])
    for event in events:
        assert event["resource_id"] == event["client_id"]
        assert event["resource_type"] == "client"
        assert event["actor_id"] == str(staff.key_ids[Role.front_desk])
        assert (event["actor_type"], event["role"]) == ("api_key", "front_desk")
        assert (event["request_id"], event["ip"]) == ("rid-page", "127.0.0.1")
        assert (event["method"], event["path"], event["status"]) == ("GET", "/v1/clients", None)
        assert event["at"].endswith("Z")
        assert uuid.UUID(event["id"]).version == 4
    assert len({e["id"] for e in events}) == 2
