"""Who writes the note, what the front desk may do, when a session may be completed, and the
shared write path (version check, archive filter, audit) as sessions use it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Consent
from app.core.security import Role
from app.directory.models import Therapist
from app.session_records import service as session_service
from tests.session_records.conftest import START, Clinic, book
from tests.session_records.test_sessions import completion, iso
from tests.session_records.test_signing import colleague_headers, completed_session


def with_version(headers: dict[str, str], version: int) -> dict[str, str]:
    return {**headers, "If-Match": f'"{version}"'}


async def fetch(client: httpx.AsyncClient, clinic: Clinic, sid: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sessions/{sid}", headers=clinic.staff.headers("admin"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ---- the note belongs to its therapist ---------------------------------------------------------


NOTE_FIELDS: list[tuple[str, Any]] = [
    ("soap", {"subjective": "Rewritten"}),
    ("measurements", [{"measure": "nprs", "value": 2, "timing": "post"}]),
    ("health_update", "Rewritten"),
    ("adverse_event", "Rewritten"),
    ("home_care", "Rewritten"),
    ("techniques", ["rewritten"]),
    ("pressure", "deep"),
]


@pytest.mark.parametrize(("field", "value"), NOTE_FIELDS, ids=[f for f, _ in NOTE_FIELDS])
async def test_another_therapist_may_not_write_the_note(
    client: httpx.AsyncClient,
    clinic: Clinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    field: str,
    value: Any,
) -> None:
    session = await completed_session(client, clinic)
    colleague = await colleague_headers(sessionmaker, clinic)
    response = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={field: value},
        headers=with_version(colleague, session["version"]),
    )
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/forbidden"
    after = await fetch(client, clinic, session["id"])
    assert after[field] == session[field]
    assert after["version"] == session["version"]
    own = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={field: value},
        headers=with_version(clinic.staff.headers("therapist"), session["version"]),
    )
    assert own.status_code == 200, own.text
    admin = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={field: value},
        headers=with_version(clinic.staff.headers("admin"), own.json()["version"]),
    )
    assert admin.status_code == 200, admin.text


async def test_another_therapist_may_not_book_with_a_note(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    colleague = await colleague_headers(sessionmaker, clinic)
    body = clinic.session(soap={"subjective": "Not my session"})
    refused = await client.post("/v1/sessions", json=body, headers=colleague)
    assert refused.status_code == 403, refused.text
    # booking for the other therapist without a note is scheduling, which any therapist does
    booked = await client.post("/v1/sessions", json=clinic.session(), headers=colleague)
    assert booked.status_code == 201, booked.text
    # and the colleague writes notes on its own sessions
    own = await client.post(
        "/v1/sessions",
        json=clinic.session(
            therapist_id=str(clinic.colleague_id),
            client_id=str(clinic.other_client_id),
            care_plan_id=None,
            soap={"subjective": "Mine"},
        ),
        headers=colleague,
    )
    assert own.status_code == 201, own.text


async def test_another_therapist_may_still_reschedule(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = (await book(client, clinic)).json()
    colleague = await colleague_headers(sessionmaker, clinic)
    moved = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"scheduled_start": iso(START + dt.timedelta(days=1))},
        headers=with_version(colleague, 1),
    )
    assert moved.status_code == 200, moved.text


async def test_a_completed_sessions_therapist_never_changes(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}"
    colleague = await colleague_headers(sessionmaker, clinic)
    for headers in (colleague, clinic.staff.headers("therapist"), clinic.staff.headers("admin")):
        response = await client.patch(
            url,
            json={"therapist_id": str(clinic.colleague_id)},
            headers=with_version(headers, session["version"]),
        )
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "/problems/invalid-transition"
        assert response.json()["current_status"] == "completed"
    # so the colleague cannot take the note over and sign it as its own
    assert (await client.post(f"{url}/sign", headers=colleague)).status_code == 403
    after = await fetch(client, clinic, session["id"])
    assert after["therapist_id"] == str(clinic.therapist_id)
    assert after["note_status"] == "draft"
    same = await client.patch(
        url,
        json={"therapist_id": str(clinic.therapist_id)},
        headers=with_version(clinic.staff.headers("admin"), session["version"]),
    )
    assert same.status_code == 200, same.text


async def test_a_scheduled_sessions_therapist_may_change(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    moved = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"therapist_id": str(clinic.colleague_id)},
        headers=with_version(clinic.staff.headers("admin"), 1),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["therapist_id"] == str(clinic.colleague_id)


# ---- the front desk ----------------------------------------------------------------------------


async def test_front_desk_may_not_move_reassign_or_archive_a_completed_session(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}"
    desk = clinic.staff.headers("front_desk")
    for body in (
        {"scheduled_start": iso(START + dt.timedelta(hours=2))},
        {"therapist_id": str(clinic.colleague_id)},
        {"duration_minutes": 30},
        {"status": "completed"},
        {"status": "cancelled"},
    ):
        response = await client.patch(url, json=body, headers=with_version(desk, 2))
        assert response.status_code == 403, (body, response.text)
        assert response.json()["type"] == "/problems/forbidden"
    archived = await client.delete(url, headers=desk)
    assert archived.status_code == 403, archived.text
    assert archived.json()["type"] == "/problems/forbidden"
    after = await fetch(client, clinic, session["id"])
    assert after["version"] == session["version"]
    assert after["archived_at"] is None
    assert after["scheduled_start"] == session["scheduled_start"]
    # sending what is already there changes nothing and is not refused
    unchanged = await client.patch(
        url, json={"duration_minutes": 60}, headers=with_version(desk, session["version"])
    )
    assert unchanged.status_code == 200, unchanged.text


async def test_front_desk_schedules_moves_reassigns_cancels_and_archives_open_sessions(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    desk = clinic.staff.headers("front_desk")
    first = (await book(client, clinic, role="front_desk")).json()
    url = f"/v1/sessions/{first['id']}"
    moved = await client.patch(
        url,
        json={"scheduled_start": iso(START + dt.timedelta(hours=2))},
        headers=with_version(desk, 1),
    )
    assert moved.status_code == 200, moved.text
    reassigned = await client.patch(
        url, json={"therapist_id": str(clinic.colleague_id)}, headers=with_version(desk, 2)
    )
    assert reassigned.status_code == 200, reassigned.text
    cancelled = await client.patch(url, json={"status": "cancelled"}, headers=with_version(desk, 3))
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.delete(url, headers=desk)).status_code == 204
    second = (await book(client, clinic, role="front_desk")).json()
    no_show = await client.patch(
        f"/v1/sessions/{second['id']}", json={"status": "no_show"}, headers=with_version(desk, 1)
    )
    assert no_show.status_code == 200, no_show.text


async def test_clinical_staff_archive_a_completed_draft(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}"
    assert (await client.delete(url, headers=clinic.staff.headers("therapist"))).status_code == 204


# ---- completion --------------------------------------------------------------------------------


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def test_a_session_is_not_completed_before_it_starts(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        for therapist_id in (clinic.therapist_id, clinic.colleague_id):
            therapist = await db.get(Therapist, therapist_id)
            assert therapist is not None
            therapist.license_expires_on = dt.date(2100, 1, 1)
        await db.commit()
    own = clinic.staff.headers("therapist")
    soon = await book(client, clinic, scheduled_start=iso(now() + dt.timedelta(minutes=5)))
    assert soon.status_code == 201, soon.text
    early = await client.patch(
        f"/v1/sessions/{soon.json()['id']}",
        json={"status": "completed"},
        headers=with_version(own, 1),
    )
    assert early.status_code == 409, early.text
    assert early.json()["type"] == "/problems/invalid-transition"
    assert early.json()["current_status"] == "scheduled"
    assert (await fetch(client, clinic, soon.json()["id"]))["status"] == "scheduled"
    recorded = await book(
        client,
        clinic,
        scheduled_start=iso(now() + dt.timedelta(days=7)),
        status="completed",
    )
    assert recorded.status_code == 409, recorded.text
    assert recorded.json()["type"] == "/problems/invalid-transition"
    assert "current_status" not in recorded.json()  # it does not exist yet
    begun = await book(
        client, clinic, scheduled_start=iso(now() - dt.timedelta(minutes=65)), duration_minutes=60
    )
    assert begun.status_code == 201, begun.text
    done = await client.patch(
        f"/v1/sessions/{begun.json()['id']}",
        json={"status": "completed"},
        headers=with_version(own, 1),
    )
    assert done.status_code == 200, done.text
    # nor can a completed session be moved into the future
    moved = await client.patch(
        f"/v1/sessions/{begun.json()['id']}",
        json={"scheduled_start": iso(now() + dt.timedelta(days=1))},
        headers=with_version(own, 2),
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["type"] == "/problems/invalid-transition"
    assert moved.json()["current_status"] == "completed"


async def test_a_session_may_be_completed_the_moment_it_starts(
    client: httpx.AsyncClient, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    booked = await book(client, clinic, scheduled_start=iso(start))
    assert booked.status_code == 201, booked.text
    monkeypatch.setattr(session_service, "utcnow", lambda: start)  # the clock reads 09:00:00
    done = await client.patch(
        f"/v1/sessions/{booked.json()['id']}",
        json={"status": "completed"},
        headers=with_version(clinic.staff.headers("therapist"), 1),
    )
    assert done.status_code == 200, done.text


async def set_consent(
    sessionmaker: async_sessionmaker[AsyncSession], clinic: Clinic, **values: Any
) -> None:
    async with sessionmaker() as db:
        consent = await db.get(Consent, clinic.treatment_consent_id)
        assert consent is not None
        for name, value in values.items():
            setattr(consent, name, value)
        await db.commit()


@pytest.mark.parametrize(
    "consent",
    [
        {"revoked_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC)},
        {"expires_on": dt.date(2026, 2, 1)},
        {"granted_on": dt.date(2100, 1, 1)},
        {"kind": "share_with_referrer"},
    ],
    ids=["revoked", "expired", "not-yet-granted", "only-sharing"],
)
async def test_completing_needs_an_active_treatment_consent(
    client: httpx.AsyncClient,
    clinic: Clinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    consent: dict[str, Any],
) -> None:
    if consent.get("kind"):
        consent["referring_professional_id"] = clinic.staff.referring_professional_id
    await set_consent(sessionmaker, clinic, **consent)
    booked = await book(client, clinic)
    assert booked.status_code == 201, booked.text
    assert "no_treatment_consent" in [w["code"] for w in booked.json()["warnings"]]
    done = await client.patch(
        f"/v1/sessions/{booked.json()['id']}",
        json=completion(),
        headers=with_version(clinic.staff.headers("therapist"), 1),
    )
    assert done.status_code == 409, done.text
    assert done.json()["type"] == "/problems/consent-required"
    after = await fetch(client, clinic, booked.json()["id"])
    assert (after["status"], after["soap"], after["version"]) == ("scheduled", None, 1)
    recorded = await book(
        client, clinic, scheduled_start=iso(START + dt.timedelta(days=1)), status="completed"
    )
    assert recorded.status_code == 409
    assert recorded.json()["type"] == "/problems/consent-required"


async def test_a_consent_expiring_today_still_counts(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await set_consent(sessionmaker, clinic, expires_on=now().date())
    booked = await book(client, clinic)
    assert "no_treatment_consent" not in [w["code"] for w in booked.json()["warnings"]]
    done = await client.patch(
        f"/v1/sessions/{booked.json()['id']}",
        json={"status": "completed"},
        headers=with_version(clinic.staff.headers("therapist"), 1),
    )
    assert done.status_code == 200, done.text


async def test_a_consent_expired_yesterday_does_not(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await set_consent(sessionmaker, clinic, expires_on=now().date() - dt.timedelta(days=1))
    booked = await book(client, clinic)
    assert "no_treatment_consent" in [w["code"] for w in booked.json()["warnings"]]


async def test_booking_with_consent_has_no_consent_warning(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    booked = await book(client, clinic)
    assert booked.json()["warnings"] == []
    no_consent = await book(
        client,
        clinic,
        client_id=str(clinic.other_client_id),
        care_plan_id=None,
        therapist_id=str(clinic.colleague_id),
    )
    assert no_consent.status_code == 201, no_consent.text
    assert [w["code"] for w in no_consent.json()["warnings"]] == ["no_treatment_consent"]


# ---- licence expiry day, through the API ------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_on", "status"),
    [(dt.date(2026, 3, 2), 201), (dt.date(2026, 3, 1), 409)],
    ids=["expires-on-the-session-day", "expired-the-day-before"],
)
async def test_licence_expiry_day_both_ways(
    client: httpx.AsyncClient,
    clinic: Clinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    expires_on: dt.date,
    status: int,
) -> None:
    async with sessionmaker() as db:
        therapist = await db.get(Therapist, clinic.therapist_id)
        assert therapist is not None
        therapist.license_expires_on = expires_on
        await db.commit()
    assert START.date() == dt.date(2026, 3, 2)
    response = await book(client, clinic)
    assert response.status_code == status, response.text


# ---- the shared write path ---------------------------------------------------------------------


async def test_session_patch_needs_the_current_version(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    url = f"/v1/sessions/{session['id']}"
    admin = clinic.staff.headers("admin")
    missing = await client.patch(url, json={"duration_minutes": 30}, headers=admin)
    assert missing.status_code == 428
    assert missing.json()["type"] == "/problems/precondition-required"
    stale = await client.patch(url, json={"duration_minutes": 30}, headers=with_version(admin, 2))
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/precondition-failed"
    assert (await fetch(client, clinic, session["id"]))["duration_minutes"] == 60
    current = await client.patch(url, json={"duration_minutes": 30}, headers=with_version(admin, 1))
    assert current.status_code == 200
    assert current.json()["version"] == 2
    assert current.headers["etag"] == '"2"'


async def test_archived_sessions_leave_the_list_and_reads(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    admin = clinic.staff.headers("admin")
    kept = (await book(client, clinic)).json()
    gone = (await book(client, clinic, scheduled_start=iso(START + dt.timedelta(days=1)))).json()
    assert (await client.delete(f"/v1/sessions/{gone['id']}", headers=admin)).status_code == 204

    async def listed(query: str = "") -> list[str]:
        response = await client.get(f"/v1/sessions?{query}", headers=admin)
        assert response.status_code == 200
        return [s["id"] for s in response.json()["items"]]

    assert await listed() == [kept["id"]]
    assert await listed("include_archived=false") == [kept["id"]]
    assert await listed("include_archived=true") == [kept["id"], gone["id"]]
    assert (await client.get(f"/v1/sessions/{gone['id']}", headers=admin)).status_code == 404
    again = await client.get(f"/v1/sessions/{gone['id']}?include_archived=true", headers=admin)
    assert again.status_code == 200
    assert again.json()["archived_at"] is not None


async def test_an_archived_note_is_neither_signed_nor_amended(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    admin = clinic.staff.headers("admin")
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}"
    assert (await client.delete(url, headers=admin)).status_code == 204
    own = clinic.staff.headers("therapist")
    assert (await client.post(f"{url}/sign", headers=own)).status_code == 404
    amended = await client.post(f"{url}/addenda", json={"text": "x", "reason": "y"}, headers=own)
    assert amended.status_code == 404
    again = await client.get(f"{url}?include_archived=true", headers=admin)
    assert again.json()["note_status"] == "draft"


async def test_reading_sessions_is_audited(client: httpx.AsyncClient, clinic: Clinic) -> None:
    admin = clinic.staff.headers("admin")
    own = clinic.staff.headers("therapist")
    session = (await book(client, clinic)).json()

    async def reads() -> list[dict[str, Any]]:
        response = await client.get(
            f"/v1/audit-events?client_id={clinic.client_id}&action=read", headers=admin
        )
        return [e for e in response.json()["items"] if e["resource_type"] == "session"]

    assert await reads() == []
    assert (await client.get(f"/v1/sessions/{session['id']}", headers=own)).status_code == 200
    one = await reads()
    assert [(e["resource_id"], e["client_id"], e["actor_id"]) for e in one] == [
        (session["id"], str(clinic.client_id), str(clinic.staff.key_ids[Role.therapist]))
    ]
    assert (await client.get("/v1/sessions", headers=own)).status_code == 200
    assert len(await reads()) == 2


# ---- the OpenAPI document ----------------------------------------------------------------------


async def test_openapi_documents_the_session_problems_and_signed_by(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    booking = paths["/v1/sessions"]["post"]["responses"]["409"]["description"]
    change = paths["/v1/sessions/{session_id}"]["patch"]["responses"]["409"]["description"]
    for slug in (
        "contraindicated",
        "therapist-unavailable",
        "client-unavailable",
        "invalid-transition",
        "consent-required",
    ):
        assert f"`/problems/{slug}`" in booking
        assert f"`/problems/{slug}`" in change
    assert "`/problems/note-signed`" in change
    addenda = paths["/v1/sessions/{session_id}/addenda"]["post"]["responses"]
    assert "`/problems/conflict`" in addenda["409"]["description"]
    sign = paths["/v1/sessions/{session_id}/sign"]["post"]
    assert "admin API key gets 403" in sign["description"]
    signed_by = spec["components"]["schemas"]["SessionRead"]["properties"]["signed_by"]
    assert "user's id" in signed_by["description"]
    assert "therapist's id" in signed_by["description"]
    therapist = spec["components"]["schemas"]["SessionUpdate"]["properties"]["therapist_id"]
    assert "never changes" in therapist["description"]
