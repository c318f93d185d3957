"""Users and API keys: admin-only management, role links, secrets never shown twice."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey, User
from app.core.security import Role
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs

PASSWORD = "correct horse battery staple"
NOWHERE = "7d3f1f06-9a9c-4b8e-9a55-2b8f4f0f6d11"


def _user(**overrides: Any) -> dict[str, Any]:
    return {
        "email": "sam@clinic.example",
        "password": PASSWORD,
        "display_name": "Sam Desk",
        "role": "front_desk",
        **overrides,
    }


@pytest.mark.parametrize("role", ["therapist", "front_desk", "referrer"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", _user()),
        ("GET", f"/v1/users/{NOWHERE}", None),
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {"name": "script", "role": "admin"}),
        ("DELETE", f"/v1/api-keys/{NOWHERE}", None),
        ("GET", "/v1/audit-events", None),
    ],
)
async def test_only_admins_manage_users_keys_and_audit(
    client: httpx.AsyncClient,
    staff: Staff,
    db: AsyncSession,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = await client.request(method, path, json=body, headers=staff.headers(role))
    assert_problem(response, 403, "forbidden")
    assert await db.scalar(select(User.id)) is None
    assert len((await db.scalars(select(ApiKey.id))).all()) == 4  # the fixture's keys alone


async def test_create_user_never_returns_the_password(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    response = await client.post("/v1/users", json=_user(), headers=staff.headers("admin"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "sam@clinic.example"
    assert body["role"] == "front_desk"
    assert body["active"] is True
    assert body["version"] == 1
    assert response.headers["location"] == f"/v1/users/{body['id']}"
    fetched = await client.get(f"/v1/users/{body['id']}", headers=staff.headers("admin"))
    listed = await client.get("/v1/users", headers=staff.headers("admin"))
    for text in (response.text, fetched.text, listed.text):
        assert PASSWORD not in text
        assert "password" not in text
        assert "argon2" not in text
    stored = await db.scalar(select(User.password_hash).where(User.id == uuid.UUID(body["id"])))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize("second", ["sam@clinic.example", "SAM@Clinic.Example"])
async def test_duplicate_email_is_409(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, second: str
) -> None:
    first = await client.post("/v1/users", json=_user(), headers=staff.headers("admin"))
    assert first.status_code == 201
    again = await client.post(
        "/v1/users", json=_user(email=second, display_name="Twin"), headers=staff.headers("admin")
    )
    assert_problem(again, 409, "conflict")
    assert len((await db.scalars(select(User.id))).all()) == 1


@pytest.mark.parametrize("path", ["/v1/users", "/v1/api-keys"])
@pytest.mark.parametrize(
    ("role", "links", "loc_field"),
    [
        ("therapist", {}, None),
        ("referrer", {}, None),
        ("front_desk", {"therapist_id": "THERAPIST"}, None),
        ("admin", {"referring_professional_id": "REFERRER"}, None),
        ("therapist", {"therapist_id": "THERAPIST", "referring_professional_id": "REFERRER"}, None),
        ("therapist", {"therapist_id": NOWHERE}, "therapist_id"),
        ("referrer", {"referring_professional_id": NOWHERE}, "referring_professional_id"),
        ("owner", {}, "role"),
    ],
)
async def test_role_links_are_validated(
    client: httpx.AsyncClient,
    staff: Staff,
    path: str,
    role: str,
    links: dict[str, str],
    loc_field: str | None,
) -> None:
    ids = {"THERAPIST": str(staff.therapist_id), "REFERRER": str(staff.referring_professional_id)}
    resolved = {k: ids.get(v, v) for k, v in links.items()}
    body = (
        _user(role=role, **resolved)
        if path == "/v1/users"
        else {
            "name": "script",
            "role": role,
            **resolved,
        }
    )
    response = await client.post(path, json=body, headers=staff.headers("admin"))
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    if loc_field is not None:
        assert ["body", loc_field] in locs


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("password", "short"),
        ("display_name", ""),
        ("email", "x" * 320 + "@example.org"),
    ],
)
async def test_user_fields_are_validated(
    client: httpx.AsyncClient, staff: Staff, field: str, value: str
) -> None:
    response = await client.post(
        "/v1/users", json=_user(**{field: value}), headers=staff.headers("admin")
    )
    assert ["body", field] in error_locs(assert_problem(response, 422, "validation-error"))


@pytest.mark.parametrize("field", ["email", "password_hash", "id", "version", "token_generation"])
async def test_user_patch_rejects_fields_it_may_not_set(
    client: httpx.AsyncClient, staff: Staff, field: str
) -> None:
    user = (await client.post("/v1/users", json=_user(), headers=staff.headers("admin"))).json()
    response = await client.patch(
        f"/v1/users/{user['id']}",
        json={field: "admin" if field == "role" else "x"},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert ["body", field] in error_locs(assert_problem(response, 422, "validation-error"))
    unchanged = await client.get(f"/v1/users/{user['id']}", headers=staff.headers("admin"))
    assert unchanged.json() == user


async def test_api_key_is_shown_once_and_works(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    created = await client.post(
        "/v1/api-keys",
        json={"name": "nightly export", "role": "front_desk"},
        headers=staff.headers("admin"),
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    key = body["key"]
    assert key.startswith("cpk_")
    assert len(key) >= 40
    assert key.startswith(body["key_prefix"])
    assert body["revoked_at"] is None

    fetched = await client.get(f"/v1/api-keys/{body['id']}", headers=staff.headers("admin"))
    listed = await client.get("/v1/api-keys?limit=200", headers=staff.headers("admin"))
    assert "key" not in fetched.json()
    assert all("key" not in item for item in listed.json()["items"])
    assert body["id"] in {item["id"] for item in listed.json()["items"]}
    for text in (fetched.text, listed.text):
        assert key not in text
    stored = await db.scalar(select(ApiKey.key_hash).where(ApiKey.id == uuid.UUID(body["id"])))
    assert stored is not None
    assert key not in stored

    as_key = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/clients", headers=as_key)).status_code == 200
    assert_problem(await client.get("/v1/users", headers=as_key), 403, "forbidden")


async def test_revoked_api_key_is_401_at_once(client: httpx.AsyncClient, staff: Staff) -> None:
    created = (
        await client.post(
            "/v1/api-keys",
            json={
                "name": "therapist tablet",
                "role": "therapist",
                "therapist_id": str(staff.therapist_id),
            },
            headers=staff.headers("admin"),
        )
    ).json()
    as_key = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/clients", headers=as_key)).status_code == 200

    revoked = await client.delete(f"/v1/api-keys/{created['id']}", headers=staff.headers("admin"))
    assert revoked.status_code == 204
    assert revoked.content == b""
    response = await client.get("/v1/clients", headers=as_key)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")

    record = await client.get(f"/v1/api-keys/{created['id']}", headers=staff.headers("admin"))
    assert record.json()["revoked_at"] is not None
    again = await client.delete(f"/v1/api-keys/{created['id']}", headers=staff.headers("admin"))
    assert again.status_code == 204
    assert (
        await client.get(f"/v1/api-keys/{created['id']}", headers=staff.headers("admin"))
    ).json()["revoked_at"] == record.json()["revoked_at"]


async def test_revoking_an_unknown_key_is_404(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.delete(f"/v1/api-keys/{NOWHERE}", headers=staff.headers("admin"))
    assert_problem(response, 404, "not-found")


async def test_revoking_the_callers_own_key_locks_it_out(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin_key_id = staff.key_ids[Role.admin]
    assert (
        await client.delete(f"/v1/api-keys/{admin_key_id}", headers=staff.headers("admin"))
    ).status_code == 204
    assert_problem(
        await client.get("/v1/users", headers=staff.headers("admin")), 401, "unauthorized"
    )
