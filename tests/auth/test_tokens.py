"""Bearer tokens: missing, malformed, expired, forged; logging in."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.core.security import JWT_ALGORITHM, Caller, Role, issue_access_token
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs

PASSWORD = "correct horse battery staple"


async def _new_user(
    client: httpx.AsyncClient, staff: Staff, email: str = "pat@clinic.example", **extra: Any
) -> dict[str, Any]:
    body = {
        "email": email,
        "password": PASSWORD,
        "display_name": "Pat Desk",
        "role": "front_desk",
        **extra,
    }
    response = await client.post("/v1/users", json=body, headers=staff.headers("admin"))
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer cpk_this-key-was-never-issued"},
        {"Authorization": "Bearer a.b.c"},
    ],
    ids=["none", "empty", "basic", "garbage", "unknown-api-key", "garbage-jwt"],
)
@pytest.mark.parametrize("path", ["/v1/clients", "/v1/therapists", "/v1/users", "/v1/audit-events"])
async def test_without_a_valid_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def _claims(secret: str, **overrides: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "role": "admin",
        "iat": now,
        "exp": now + dt.timedelta(minutes=5),
        "typ": "access",
        "gen": 0,
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, JWT_ALGORITHM)


async def test_expired_token_is_401(client: httpx.AsyncClient, app: FastAPI, staff: Staff) -> None:
    secret = app.state.secret_key
    user = await _new_user(client, staff)
    caller = Caller("user", uuid.UUID(user["id"]), Role.front_desk)
    expired = issue_access_token(caller, secret, minutes=-1, generation=0)
    assert_problem(await client.get("/v1/clients", headers=_bearer(expired)), 401, "unauthorized")
    fresh = issue_access_token(caller, secret, minutes=5, generation=0)
    assert (await client.get("/v1/clients", headers=_bearer(fresh))).status_code == 200


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"secret": "some-other-secret-key-of-sufficient-length"}, id="wrong-key"),
        pytest.param({"typ": "refresh"}, id="not-an-access-token"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"sub": None}, id="no-subject"),
        pytest.param({"role": "superuser"}, id="unknown-role"),
        pytest.param({"sub": "not-a-uuid"}, id="bad-subject"),
        pytest.param({"gen": None}, id="no-generation"),
        pytest.param({"gen": "0"}, id="generation-not-a-number"),
        pytest.param({"gen": 1}, id="stale-generation"),
        pytest.param({"sub": "unknown-user"}, id="unknown-user"),
        pytest.param({}, id="control-the-real-claims-work"),
    ],
)
async def test_forged_or_incomplete_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, staff: Staff, forged: dict[str, Any]
) -> None:
    user = await _new_user(client, staff)
    control = not forged
    secret = forged.pop("secret", app.state.secret_key)
    if forged.get("sub") == "unknown-user":
        forged["sub"] = str(uuid.uuid4())
    token = _claims(secret, **{"sub": user["id"], "role": "front_desk", **forged})
    response = await client.get("/v1/clients", headers=_bearer(token))
    if control:
        assert response.status_code == 200, response.text
        return
    assert_problem(response, 401, "unauthorized")


async def test_unsigned_token_is_401(client: httpx.AsyncClient) -> None:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "admin",
        "typ": "access",
        "exp": now.timestamp() + 60,
    }
    token = jwt.encode(claims, key=None, algorithm="none")
    assert_problem(await client.get("/v1/clients", headers=_bearer(token)), 401, "unauthorized")


async def test_login_issues_a_working_bearer_token(
    client: httpx.AsyncClient, staff: Staff, app: FastAPI
) -> None:
    user = await _new_user(client, staff)
    response = await _login(client, "Pat@Clinic.example", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == app.state.settings.access_token_minutes * 60
    assert response.headers["cache-control"] == "no-store"

    token = body["access_token"]
    assert (await client.get("/v1/clients", headers=_bearer(token))).status_code == 200
    # the token carries the user's role: a front desk user is no admin
    assert_problem(await client.get("/v1/users", headers=_bearer(token)), 403, "forbidden")
    claims = jwt.decode(token, app.state.settings.secret_key, algorithms=[JWT_ALGORITHM])
    assert claims["sub"] == user["id"]
    assert claims["role"] == "front_desk"


async def test_therapist_login_carries_the_therapist_link(
    client: httpx.AsyncClient, staff: Staff, app: FastAPI
) -> None:
    await _new_user(
        client, staff, "ada@clinic.example", role="therapist", therapist_id=str(staff.therapist_id)
    )
    token = (await _login(client, "ada@clinic.example", PASSWORD)).json()["access_token"]
    claims = jwt.decode(token, app.state.settings.secret_key, algorithms=[JWT_ALGORITHM])
    assert claims["tid"] == str(staff.therapist_id)
    assert (await client.get("/v1/clients", headers=_bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("pat@clinic.example", "wrong password, surely"),
        ("nobody@clinic.example", PASSWORD),
        ("pat@clinic.example", PASSWORD.upper()),
    ],
)
async def test_wrong_credentials_are_401(
    client: httpx.AsyncClient, staff: Staff, username: str, password: str
) -> None:
    await _new_user(client, staff)
    response = await _login(client, username, password)
    body = assert_problem(response, 401, "unauthorized")
    # an unknown email and a wrong password are told apart by nothing
    assert body["detail"] == "Unknown email or wrong password"
    assert "access_token" not in response.text


@pytest.mark.parametrize(
    "form",
    [{"username": "pat@clinic.example"}, {"username": "pat@clinic.example", "password": ""}],
)
async def test_login_form_fields_are_required(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    response = await client.post("/v1/auth/token", data=form)
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["body", "password"]]


async def test_login_takes_a_form_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/token", json={"username": "pat@clinic.example", "password": PASSWORD}
    )
    assert_problem(response, 422, "validation-error")


async def test_inactive_user_cannot_log_in(client: httpx.AsyncClient, staff: Staff) -> None:
    user = await _new_user(client, staff)
    deactivated = await client.patch(
        f"/v1/users/{user['id']}",
        json={"active": False},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert deactivated.status_code == 200, deactivated.text
    assert_problem(await _login(client, "pat@clinic.example", PASSWORD), 401, "unauthorized")


async def test_password_change_takes_effect(client: httpx.AsyncClient, staff: Staff) -> None:
    user = await _new_user(client, staff)
    new_password = "a whole new passphrase"
    changed = await client.patch(
        f"/v1/users/{user['id']}",
        json={"password": new_password},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert new_password not in changed.text
    assert_problem(await _login(client, "pat@clinic.example", PASSWORD), 401, "unauthorized")
    assert (await _login(client, "pat@clinic.example", new_password)).status_code == 200
