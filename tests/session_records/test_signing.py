from __future__ import annotations

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
from app.session_records.signing import SIGNED_FIELDS
from tests.session_records.conftest import Clinic, book
from tests.session_records.test_sessions import completion


async def completed_session(client: httpx.AsyncClient, clinic: Clinic) -> dict[str, Any]:
    session = (await book(client, clinic)).json()
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


def canonical_sha256(session: dict[str, Any]) -> str:
    """The README's canonical form, rebuilt from the API's own representation."""
    content = {name: session[name] for name in SIGNED_FIELDS}
    content["measurements"] = [
        {k: m[k] for k in ("goal_id", "measure", "value", "unit", "timing")}
        for m in session["measurements"]
    ]
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
    assert body["signed_by"] == str(clinic.staff.key_ids[Role.therapist])
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


async def test_only_own_therapist_or_admin_signs(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = await completed_session(client, clinic)
    url = f"/v1/sessions/{session['id']}/sign"
    other = await colleague_headers(sessionmaker, clinic)
    assert (await client.post(url, headers=other)).status_code == 403
    assert (await client.post(url, headers=clinic.staff.headers("front_desk"))).status_code == 403
    assert (await client.post(url, headers=clinic.staff.headers("referrer"))).status_code == 403
    assert (await client.post(url, headers=clinic.staff.headers("admin"))).status_code == 200
    again = await client.post(url, headers=clinic.staff.headers("admin"))
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/note-signed"


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
    signed = (await client.post(f"/v1/sessions/{sid}/sign", headers=admin)).json()
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
            f"/v1/sessions/{session['id']}/sign", headers=clinic.staff.headers("admin")
        )
    ).json()
    assert signed["content_sha256"] == canonical_sha256(signed)


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
