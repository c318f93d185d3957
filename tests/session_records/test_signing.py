from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.security import Role
from tests.session_records.conftest import START, Clinic, book
from tests.session_records.test_sessions import completion, iso

# The canonical signed form's keys exactly as the README lists them ("content_sha256")
CANONICAL_KEYS = (
    "id",
    "client_id",
    "care_plan_id",
    "therapist_id",
    "scheduled_start",
    "duration_minutes",
    "status",
    "session_type",
    "body_regions",
    "regions_avoided",
    "techniques",
    "pressure",
    "soap",
    "measurements",
    "health_update",
    "adverse_event",
    "home_care",
    "adjacent_appointment",
    "signed_at",
    "signed_by",
)
MEASUREMENT_KEYS = ("goal_id", "measure", "value", "unit", "timing")
PASSWORD = "a long enough password for tests"


async def completed_session(
    client: httpx.AsyncClient, clinic: Clinic, start_offset: dt.timedelta = dt.timedelta(0)
) -> dict[str, Any]:
    session = (await book(client, clinic, scheduled_start=iso(START + start_offset))).json()
    body = completion(
        measurements=[
            {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 5.5, "timing": "post"}
        ]
    )
    done = await client.patch(
        f"/v1/sessions/{session['id']}",
        json=body,
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def colleague_headers(
    sessionmaker: async_sessionmaker[AsyncSession], clinic: Clinic
) -> dict[str, str]:
    async with sessionmaker() as db:
        _, key = await auth_service.create_api_key(
            db,
            ApiKeyCreate(name="colleague", role=Role.therapist, therapist_id=clinic.colleague_id),
            None,
        )
        await db.commit()
    return {"Authorization": f"Bearer {key}"}


async def user_headers(
    client: httpx.AsyncClient, clinic: Clinic, role: str, therapist_id: object = None
) -> tuple[dict[str, str], str]:
    """A logged-in user of that role (linked to the therapist, if given): headers and user id."""
    email = f"{role}-{therapist_id or 'none'}@clinic.example"
    body: dict[str, Any] = {
        "email": email,
        "password": PASSWORD,
        "display_name": f"A {role}",
        "role": role,
    }
    if therapist_id is not None:
        body["therapist_id"] = str(therapist_id)
    created = await client.post("/v1/users", json=body, headers=clinic.staff.headers("admin"))
    assert created.status_code == 201, created.text
    token = await client.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, created.json()["id"]


def canonical_sha256(session: dict[str, Any]) -> str:
    """The README's canonical form, rebuilt from the API's own representation."""
    content = {name: session[name] for name in CANONICAL_KEYS}
    content["measurements"] = [{k: m[k] for k in MEASUREMENT_KEYS} for m in session["measurements"]]
    for name in ("scheduled_start", "signed_at"):
        content[name] = content[name].replace("+00:00", "Z")
    if content["adjacent_appointment"]:
        content["adjacent_appointment"]["starts_at"] = content["adjacent_appointment"][
            "starts_at"
        ].replace("+00:00", "Z")
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


async def test_sign_records_signature_and_digest(client: httpx.AsyncClient, clinic: Clinic) -> None:
    session = await completed_session(client, clinic)
    signed = await client.post(
        f"/v1/sessions/{session['id']}/sign", headers=clinic.staff.headers("therapist")
    )
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["note_status"] == "signed"
    assert body["signed_at"]
    # a therapist's API key signs for the therapist: signed_by names the therapist
    assert body["signed_by"] == str(clinic.therapist_id)
    assert len(body["content_sha256"]) == 64
    fetched = (
        await client.get(f"/v1/sessions/{session['id']}", headers=clinic.staff.headers("admin"))
    ).json()
    assert fetched["content_sha256"] == body["content_sha256"]


async def test_only_completed_sessions_are_signed(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    response = await client.post(
        f"/v1/sessions/{session['id']}/sign", headers=clinic.staff.headers("therapist")
    )
    assert response.status_code == 409


async def test_only_own_therapist_or_an_admin_user_signs(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}/sign"
    colleague_user, _ = await user_headers(client, clinic, "therapist", clinic.colleague_id)
    refused = [
        await colleague_headers(sessionmaker, clinic),
        colleague_user,
        clinic.staff.headers("front_desk"),
        clinic.staff.headers("referrer"),
        clinic.staff.headers("admin"),  # an API key is no person
    ]
    for headers in refused:
        response = await client.post(url, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    unsigned = await client.get(url.removesuffix("/sign"), headers=clinic.staff.headers("admin"))
    assert unsigned.json()["note_status"] == "draft"
    assert unsigned.json()["signed_by"] is None
    admin_user, admin_user_id = await user_headers(client, clinic, "admin")
    signed = await client.post(url, headers=admin_user)
    assert signed.status_code == 200, signed.text
    assert signed.json()["signed_by"] == admin_user_id
    again = await client.post(url, headers=admin_user)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/note-signed"


async def test_a_therapist_user_signs_as_itself(client: httpx.AsyncClient, clinic: Clinic) -> None:
    session = await completed_session(client, clinic)
    own_user, user_id = await user_headers(client, clinic, "therapist", clinic.therapist_id)
    signed = await client.post(f"/v1/sessions/{session['id']}/sign", headers=own_user)
    assert signed.status_code == 200, signed.text
    assert signed.json()["signed_by"] == user_id
    assert signed.json()["content_sha256"] == canonical_sha256(signed.json())


def session_write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every route of the app that writes to one session."""
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/v1/sessions/{session_id}"):
            for method in (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
                found.append((method, route.path))
    return sorted(found)


WRITE_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/sessions/{session_id}"): {"health_update": "changed after signing"},
    ("POST", "/v1/sessions/{session_id}/addenda"): {"text": "Correction", "reason": "typo"},
}


async def test_every_write_to_a_signed_session_is_refused(
    client: httpx.AsyncClient, clinic: Clinic, app: FastAPI
) -> None:
    session = await completed_session(client, clinic)
    sid = session["id"]
    admin = clinic.staff.headers("admin")
    own = clinic.staff.headers("therapist")
    signed = (await client.post(f"/v1/sessions/{sid}/sign", headers=own)).json()
    routes = session_write_routes(app)
    assert ("PATCH", "/v1/sessions/{session_id}") in routes
    assert ("DELETE", "/v1/sessions/{session_id}") in routes
    patches = [
        {"health_update": "x"},
        {"status": "cancelled"},
        {"soap": None},
        {"body_regions": ["neck"]},
        {"measurements": []},
        {"duration_minutes": 30},
    ]
    for method, path in routes:
        url = path.replace("{session_id}", sid)
        if path.endswith("/addenda"):
            continue  # the one way to correct a signed note
        bodies = patches if method == "PATCH" else [WRITE_BODIES.get((method, path))]
        for body in bodies:
            response = await client.request(
                method, url, json=body, headers={**admin, "If-Match": f'"{signed["version"]}"'}
            )
            assert response.status_code == 409, (method, path, body, response.text)
            assert response.json()["type"] == "/problems/note-signed"
    after = (await client.get(f"/v1/sessions/{sid}", headers=admin)).json()
    assert after["version"] == signed["version"]
    assert after["content_sha256"] == signed["content_sha256"]
    assert after["health_update"] == session["health_update"]


async def test_digest_matches_the_documented_canonical_form(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = await completed_session(client, clinic)
    signed = (
        await client.post(
            f"/v1/sessions/{session['id']}/sign", headers=clinic.staff.headers("therapist")
        )
    ).json()
    assert signed["home_care"] == "Cat-cow stretch twice a day"
    assert signed["content_sha256"] == canonical_sha256(signed)
    # every key of the canonical form counts: home_care changed changes the digest
    assert canonical_sha256({**signed, "home_care": "Rest"}) != signed["content_sha256"]


async def test_addenda_belong_to_signed_notes_only(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    own = clinic.staff.headers("therapist")
    admin = clinic.staff.headers("admin")
    booked = (await book(client, clinic)).json()
    done = await completed_session(client, clinic, start_offset=dt.timedelta(days=1))
    for session in (booked, done):
        for headers in (own, admin):
            response = await client.post(
                f"/v1/sessions/{session['id']}/addenda",
                json={"text": "Should be an edit", "reason": "unsigned"},
                headers=headers,
            )
            assert response.status_code == 409, response.text
            assert response.json()["type"] == "/problems/conflict"
        after = (await client.get(f"/v1/sessions/{session['id']}", headers=admin)).json()
        assert after["addenda"] == []
        assert after["version"] == session["version"]
    assert (await client.post(f"/v1/sessions/{done['id']}/sign", headers=own)).status_code == 200
    added = await client.post(
        f"/v1/sessions/{done['id']}/addenda",
        json={"text": "Now it may", "reason": "signed"},
        headers=own,
    )
    assert added.status_code == 201, added.text


async def test_addenda_are_appended_in_order(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = await completed_session(client, clinic)
    sid = session["id"]
    own = clinic.staff.headers("therapist")
    await client.post(f"/v1/sessions/{sid}/sign", headers=own)
    first = await client.post(
        f"/v1/sessions/{sid}/addenda",
        json={"text": "Pain was 5/10, not 6/10", "reason": "typo"},
        headers=own,
    )
    assert first.status_code == 201, first.text
    added = first.json()
    assert set(added) == {"id", "author", "created_at", "text", "reason"}
    assert added["author"]["id"] == str(clinic.staff.key_ids[Role.therapist])
    second = await client.post(
        f"/v1/sessions/{sid}/addenda",
        json={"text": "Client called: soreness next day", "reason": "late info"},
        headers=clinic.staff.headers("admin"),
    )
    assert second.status_code == 201
    other = await colleague_headers(sessionmaker, clinic)
    refused = await client.post(
        f"/v1/sessions/{sid}/addenda", json={"text": "x", "reason": "y"}, headers=other
    )
    assert refused.status_code == 403
    empty = await client.post(
        f"/v1/sessions/{sid}/addenda", json={"text": "", "reason": "y"}, headers=own
    )
    assert empty.status_code == 422
    texts = [
        a["text"] for a in (await client.get(f"/v1/sessions/{sid}", headers=own)).json()["addenda"]
    ]
    assert texts == ["Pain was 5/10, not 6/10", "Client called: soreness next day"]
