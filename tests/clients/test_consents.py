"""Consents: scope, the computed `active` flag, revoking."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs

TODAY = dt.datetime.now(dt.UTC).date()


def _day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


@pytest.fixture
async def client_id(client: httpx.AsyncClient, staff: Staff) -> str:
    response = await client.post(
        "/v1/clients", json=factories.client(), headers=staff.headers("admin")
    )
    cid: str = response.json()["id"]
    return cid


async def _grant(
    client: httpx.AsyncClient, staff: Staff, owner: str, role: str = "front_desk", **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/clients/{owner}/consents",
        json={"kind": "treatment", "granted_on": _day(0), **body},
        headers=staff.headers(role),
    )


async def test_share_with_referrer_names_the_referrer(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    missing = await _grant(client, staff, client_id, kind="share_with_referrer")
    assert_problem(missing, 422, "validation-error")
    unknown = await _grant(
        client,
        staff,
        client_id,
        kind="share_with_referrer",
        referring_professional_id=str(uuid.uuid4()),
    )
    assert ["body", "referring_professional_id"] in error_locs(
        assert_problem(unknown, 422, "validation-error")
    )
    rp = str(staff.referring_professional_id)
    granted = await _grant(
        client, staff, client_id, kind="share_with_referrer", referring_professional_id=rp
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["referring_professional_id"] == rp
    assert body["client_id"] == client_id
    assert body["active"] is True
    assert body["revoked_at"] is None
    assert granted.headers["location"] == f"/v1/consents/{body['id']}"
    listed = await client.get(f"/v1/clients/{client_id}/consents", headers=staff.headers("admin"))
    assert listed.json()["items"] == [body]


@pytest.mark.parametrize(
    ("granted_on", "expires_on", "active"),
    [
        (-30, None, True),
        (0, 0, True),  # the last day of a consent is still covered
        (-30, 30, True),
        (-30, -1, False),  # expired yesterday
        (1, None, False),  # granted from tomorrow on
        (5, 10, False),
    ],
)
async def test_active_is_computed(
    client: httpx.AsyncClient,
    staff: Staff,
    client_id: str,
    granted_on: int,
    expires_on: int | None,
    active: bool,
) -> None:
    response = await _grant(
        client,
        staff,
        client_id,
        granted_on=_day(granted_on),
        expires_on=None if expires_on is None else _day(expires_on),
    )
    assert response.status_code == 201, response.text
    assert response.json()["active"] is active
    fetched = await client.get(
        f"/v1/consents/{response.json()['id']}", headers=staff.headers("admin")
    )
    assert fetched.json()["active"] is active
    listed = await client.get(f"/v1/clients/{client_id}/consents", headers=staff.headers("admin"))
    assert [c["active"] for c in listed.json()["items"]] == [active]


async def test_revoke_takes_effect_and_is_idempotent(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    consent = (await _grant(client, staff, client_id)).json()
    assert consent["active"] is True
    url = f"/v1/consents/{consent['id']}/revoke"
    revoked = await client.post(url, headers=staff.headers("front_desk"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["version"] == 2
    assert revoked.headers["etag"] == '"2"'
    fetched = await client.get(f"/v1/consents/{consent['id']}", headers=staff.headers("admin"))
    assert fetched.json() == revoked.json()

    again = await client.post(url, headers=staff.headers("admin"))
    assert again.status_code == 200
    assert again.json() == revoked.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "marketing"}, ["kind"]),
        ({"granted_on": None}, ["granted_on"]),
        ({"granted_on": _day(0), "expires_on": _day(-1)}, []),
        ({"revoked_at": "2026-01-01T00:00:00Z"}, ["revoked_at"]),
        ({"active": True}, ["active"]),
        ({"client_id": str(uuid.uuid4())}, ["client_id"]),
    ],
)
async def test_consent_bodies_are_validated(
    client: httpx.AsyncClient, staff: Staff, client_id: str, body: dict[str, Any], loc: list[str]
) -> None:
    response = await _grant(client, staff, client_id, **body)
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    assert any(found[: len(loc) + 1] == ["body", *loc] for found in locs)


async def test_consents_roles_and_missing_rows(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    consent = (await _grant(client, staff, client_id)).json()
    for method, path in [
        ("GET", f"/v1/clients/{client_id}/consents"),
        ("POST", f"/v1/clients/{client_id}/consents"),
        ("GET", f"/v1/consents/{consent['id']}"),
        ("POST", f"/v1/consents/{consent['id']}/revoke"),
    ]:
        response = await client.request(
            method,
            path,
            json={"kind": "treatment", "granted_on": _day(0)},
            headers=staff.headers("referrer"),
        )
        assert_problem(response, 403, "forbidden")
    still = await client.get(f"/v1/consents/{consent['id']}", headers=staff.headers("therapist"))
    assert still.json()["active"] is True
    nowhere = uuid.uuid4()
    for response in [
        await client.get(f"/v1/consents/{nowhere}", headers=staff.headers("admin")),
        await client.post(f"/v1/consents/{nowhere}/revoke", headers=staff.headers("admin")),
        await _grant(client, staff, str(nowhere)),
    ]:
        assert_problem(response, 404, "not-found")


async def test_any_named_referring_professional_must_exist(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    response = await _grant(client, staff, client_id, referring_professional_id=str(uuid.uuid4()))
    assert ["body", "referring_professional_id"] in error_locs(
        assert_problem(response, 422, "validation-error")
    )
    listed = await client.get(f"/v1/clients/{client_id}/consents", headers=staff.headers("admin"))
    assert listed.json()["items"] == []
