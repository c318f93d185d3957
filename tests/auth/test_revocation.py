"""A user's access tokens stop working at once, on every worker, when the user is deactivated
or changes password or role; other changes leave them alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Staff
from tests.core.problems import assert_problem

PASSWORD = "correct horse battery staple"
EMAIL = "pat@clinic.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def user(client: httpx.AsyncClient, staff: Staff) -> dict[str, Any]:
    response = await client.post(
        "/v1/users",
        json={"email": EMAIL, "password": PASSWORD, "display_name": "Pat", "role": "front_desk"},
        headers=staff.headers("admin"),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def log_in(client: httpx.AsyncClient, password: str = PASSWORD) -> str:
    response = await client.post("/v1/auth/token", data={"username": EMAIL, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def patch_user(
    client: httpx.AsyncClient, staff: Staff, user_id: str, body: dict[str, Any]
) -> httpx.Response:
    current = await client.get(f"/v1/users/{user_id}", headers=staff.headers("admin"))
    return await client.patch(
        f"/v1/users/{user_id}",
        json=body,
        headers={**staff.headers("admin"), "If-Match": current.headers["etag"]},
    )


REVOKING_CHANGES = {
    "deactivated": {"active": False},
    "new-password": {"password": "a whole new passphrase"},
    "new-role": {"role": "admin"},
}


@pytest.mark.parametrize("change", REVOKING_CHANGES.values(), ids=REVOKING_CHANGES.keys())
async def test_the_old_token_is_refused_at_once(
    client: httpx.AsyncClient, staff: Staff, user: dict[str, Any], change: dict[str, Any]
) -> None:
    token = await log_in(client)
    assert (await client.get("/v1/clients", headers=bearer(token))).status_code == 200
    changed = await patch_user(client, staff, user["id"], change)
    assert changed.status_code == 200, changed.text
    assert_problem(await client.get("/v1/clients", headers=bearer(token)), 401, "unauthorized")


async def test_other_changes_leave_tokens_working(
    client: httpx.AsyncClient, staff: Staff, user: dict[str, Any]
) -> None:
    token = await log_in(client)
    for change in ({"display_name": "Pat Desk"}, {"active": True}, {"role": "front_desk"}):
        changed = await patch_user(client, staff, user["id"], change)
        assert changed.status_code == 200, changed.text
    assert (await client.get("/v1/clients", headers=bearer(token))).status_code == 200


async def test_a_new_role_takes_effect_with_the_next_login(
    client: httpx.AsyncClient, staff: Staff, user: dict[str, Any]
) -> None:
    old = await log_in(client)
    assert_problem(await client.get("/v1/users", headers=bearer(old)), 403, "forbidden")
    changed = await patch_user(client, staff, user["id"], {"role": "admin"})
    assert changed.json()["role"] == "admin"
    new = await log_in(client)
    assert (await client.get("/v1/users", headers=bearer(new))).status_code == 200


async def test_a_role_change_that_lacks_its_link_changes_nothing(
    client: httpx.AsyncClient, staff: Staff, user: dict[str, Any]
) -> None:
    token = await log_in(client)
    refused = await patch_user(client, staff, user["id"], {"role": "therapist"})
    assert_problem(refused, 422, "validation-error")
    assert (await client.get("/v1/clients", headers=bearer(token))).status_code == 200
    unchanged = await client.get(f"/v1/users/{user['id']}", headers=staff.headers("admin"))
    assert unchanged.json() == user

    linked = await patch_user(
        client, staff, user["id"], {"role": "therapist", "therapist_id": str(staff.therapist_id)}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["therapist_id"] == str(staff.therapist_id)
    assert_problem(await client.get("/v1/clients", headers=bearer(token)), 401, "unauthorized")


async def test_reactivation_does_not_revive_old_tokens(
    client: httpx.AsyncClient, staff: Staff, user: dict[str, Any]
) -> None:
    token = await log_in(client)
    await patch_user(client, staff, user["id"], {"active": False})
    await patch_user(client, staff, user["id"], {"active": True})
    assert_problem(await client.get("/v1/clients", headers=bearer(token)), 401, "unauthorized")
    fresh = await log_in(client)
    assert (await client.get("/v1/clients", headers=bearer(fresh))).status_code == 200


@pytest.fixture
async def second_worker(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Another application instance on the same database, as a second worker process is."""
    other: FastAPI = create_app(settings, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        yield http


@pytest.mark.parametrize("change", REVOKING_CHANGES.values(), ids=REVOKING_CHANGES.keys())
async def test_revocation_holds_on_every_worker(
    client: httpx.AsyncClient,
    second_worker: httpx.AsyncClient,
    staff: Staff,
    user: dict[str, Any],
    change: dict[str, Any],
) -> None:
    token = await log_in(client)
    # the token works on both workers, the change is made through the second
    assert (await second_worker.get("/v1/clients", headers=bearer(token))).status_code == 200
    assert (await client.get("/v1/clients", headers=bearer(token))).status_code == 200
    changed = await patch_user(second_worker, staff, user["id"], change)
    assert changed.status_code == 200, changed.text
    for worker in (client, second_worker):
        assert_problem(await worker.get("/v1/clients", headers=bearer(token)), 401, "unauthorized")
