"""`/v1/clients`: CRUD, search, the referring-professional filter, soft delete, roles."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.directory.models import ReferringProfessional
from app.referrals.models import Referral
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


async def _create(client: httpx.AsyncClient, staff: Staff, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/clients", json=factories.client(**overrides), headers=staff.headers("front_desk")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _list(client: httpx.AsyncClient, staff: Staff, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/clients", params={"limit": 200, **params}, headers=staff.headers("admin")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_client_crud(client: httpx.AsyncClient, staff: Staff) -> None:
    created = await _create(client, staff, pregnancy_due_date="2031-03-01", notes="Left-handed")
    uuid.UUID(created["id"])
    assert created["given_name"] == "Sam"
    assert created["emergency_contact"] == {
        "name": "Alex Rivera",
        "phone": "+1 555 0101",
        "relationship": "partner",
    }
    assert created["date_of_birth"] == "1985-04-12"
    assert created["pregnancy_due_date"] == "2031-03-01"
    assert created["archived_at"] is None
    url = f"/v1/clients/{created['id']}"

    fetched = await client.get(url, headers=staff.headers("therapist"))
    assert fetched.json() == created
    assert fetched.headers["etag"] == '"1"'

    patched = await client.patch(
        url,
        json={
            "emergency_contact": {"name": "Jo Rivera", "phone": "+1 555 0102"},
            "address": "1 Elm",
        },
        headers={**staff.headers("front_desk"), "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    # nested objects are replaced whole, not merged
    assert patched.json()["emergency_contact"] == {
        "name": "Jo Rivera",
        "phone": "+1 555 0102",
        "relationship": None,
    }
    assert patched.json()["address"] == "1 Elm"
    assert patched.json()["notes"] == "Left-handed"

    assert (await client.delete(url, headers=staff.headers("front_desk"))).status_code == 204
    assert_problem(await client.get(url, headers=staff.headers("admin")), 404, "not-found")
    assert created["id"] not in {c["id"] for c in await _list(client, staff)}
    archived = await client.get(f"{url}?include_archived=true", headers=staff.headers("admin"))
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert created["id"] in {c["id"] for c in await _list(client, staff, include_archived="true")}
    # an archived client can be neither changed nor archived again
    assert_problem(
        await client.patch(
            url, json={"notes": "x"}, headers={**staff.headers("admin"), "If-Match": '"2"'}
        ),
        404,
        "not-found",
    )
    assert_problem(await client.delete(url, headers=staff.headers("admin")), 404, "not-found")


async def test_unknown_client_is_404(client: httpx.AsyncClient, staff: Staff) -> None:
    url = f"/v1/clients/{uuid.uuid4()}"
    assert_problem(await client.get(url, headers=staff.headers("admin")), 404, "not-found")
    assert_problem(await client.delete(url, headers=staff.headers("admin")), 404, "not-found")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("rivera", {"Sam Rivera", "Ana Rivera-Lopez"}),
        ("RIVERA sam", {"Sam Rivera"}),
        ("lopez ana", {"Ana Rivera-Lopez"}),
        ("o'brien", {"Kit O'Brien"}),
        ("sam kit", set()),
        ("a", {"Sam Rivera", "Ana Rivera-Lopez"}),
    ],
)
async def test_name_search(
    client: httpx.AsyncClient, staff: Staff, q: str, expected: set[str]
) -> None:
    await _create(client, staff)
    await _create(client, staff, given_name="Ana", family_name="Rivera-Lopez")
    await _create(client, staff, given_name="Kit", family_name="O'Brien")
    names = {f"{c['given_name']} {c['family_name']}" for c in await _list(client, staff, q=q)}
    assert names == expected


async def test_referring_professional_filter(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession
) -> None:
    referred = await _create(client, staff, given_name="Referred")
    twice = await _create(client, staff, given_name="Twice")
    other = await _create(client, staff, given_name="Other")
    withdrawn = await _create(client, staff, given_name="Withdrawn")
    await _create(client, staff, given_name="Walk-in")
    someone_else = ReferringProfessional(full_name="Dr. Else", discipline="primary_care")
    db.add(someone_else)
    await db.flush()
    mine = staff.referring_professional_id
    today = dt.date.today()
    db.add_all(
        [
            Referral(
                client_id=uuid.UUID(referred["id"]),
                referring_professional_id=mine,
                received_on=today,
            ),
            Referral(
                client_id=uuid.UUID(twice["id"]), referring_professional_id=mine, received_on=today
            ),
            Referral(
                client_id=uuid.UUID(twice["id"]), referring_professional_id=mine, received_on=today
            ),
            Referral(
                client_id=uuid.UUID(other["id"]),
                referring_professional_id=someone_else.id,
                received_on=today,
            ),
            Referral(
                client_id=uuid.UUID(withdrawn["id"]),
                referring_professional_id=mine,
                received_on=today,
                archived_at=dt.datetime.now(dt.UTC),
            ),
        ]
    )
    await db.commit()

    listed = await _list(client, staff, referring_professional_id=str(mine))
    assert [c["given_name"] for c in listed] == ["Referred", "Twice"]
    by_other = await _list(client, staff, referring_professional_id=str(someone_else.id))
    assert [c["given_name"] for c in by_other] == ["Other"]
    combined = await _list(client, staff, referring_professional_id=str(mine), q="twice")
    assert [c["given_name"] for c in combined] == ["Twice"]
    assert await _list(client, staff, referring_professional_id=str(uuid.uuid4())) == []
    bad = await client.get(
        "/v1/clients?referring_professional_id=nope", headers=staff.headers("admin")
    )
    assert error_locs(assert_problem(bad, 422, "validation-error")) == [
        ["query", "referring_professional_id"]
    ]


@pytest.mark.parametrize(
    ("contact", "loc"),
    [
        ({"name": "Alex"}, ["emergency_contact", "phone"]),
        ({"phone": "+1 555 0101"}, ["emergency_contact", "name"]),
        ({"name": "", "phone": "+1 555 0101"}, ["emergency_contact", "name"]),
        ({"name": "Alex", "phone": "1", "email": "a@b.c"}, ["emergency_contact", "email"]),
        ({"name": "Alex", "phone": "x" * 51}, ["emergency_contact", "phone"]),
        ("Alex, 555 0101", ["emergency_contact"]),
    ],
)
async def test_emergency_contact_is_validated(
    client: httpx.AsyncClient, staff: Staff, contact: Any, loc: list[str]
) -> None:
    response = await client.post(
        "/v1/clients",
        json=factories.client(emergency_contact=contact),
        headers=staff.headers("admin"),
    )
    assert ["body", *loc] in error_locs(assert_problem(response, 422, "validation-error"))


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"given_name": ""}, ["given_name"]),
        ({"family_name": "x" * 101}, ["family_name"]),
        ({"email": "sam-at-example"}, ["email"]),
        ({"date_of_birth": "2999-01-01"}, []),
        ({"date_of_birth": "1985-13-40"}, ["date_of_birth"]),
        ({"address": "x" * 501}, ["address"]),
    ],
)
async def test_client_fields_are_validated(
    client: httpx.AsyncClient, staff: Staff, overrides: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(
        "/v1/clients", json=factories.client(**overrides), headers=staff.headers("admin")
    )
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    assert any(found[: len(loc) + 1] == ["body", *loc] for found in locs)


async def test_future_birth_date_is_rejected_on_patch(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    created = await _create(client, staff)
    response = await client.patch(
        f"/v1/clients/{created['id']}",
        json={"date_of_birth": "2999-01-01"},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert_problem(response, 422, "validation-error")


async def test_minimal_client(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.post(
        "/v1/clients",
        json={"given_name": "Mo", "family_name": "Min"},
        headers=staff.headers("admin"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["emergency_contact"] is None
    assert body["date_of_birth"] is None
    # what a new row gets: the columns not given are null, one time for both timestamps
    unset = ("email", "phone", "address", "pregnancy_due_date", "notes", "archived_at")
    assert all(body[name] is None for name in unset)
    assert body["created_at"] == body["updated_at"]
    assert body["version"] == 1
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/clients/{body['id']}"
    stored = await client.get(response.headers["location"], headers=staff.headers("admin"))
    assert stored.json() == body


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("POST", ""), ("GET", "/ID"), ("DELETE", "/ID")]
)
async def test_referrer_has_no_access_to_clients(
    client: httpx.AsyncClient, staff: Staff, method: str, suffix: str
) -> None:
    created = await _create(client, staff)
    path = "/v1/clients" + suffix.replace("ID", created["id"])
    response = await client.request(
        method, path, json=factories.client(), headers=staff.headers("referrer")
    )
    assert_problem(response, 403, "forbidden")
    still = await client.get(f"/v1/clients/{created['id']}", headers=staff.headers("admin"))
    assert still.status_code == 200
