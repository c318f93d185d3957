from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from app.care_plans.schemas import CarePlanStatus
from app.care_plans.service import CARE_PLAN_STATUS
from app.core.security import Role
from tests.care_plans.factories import care_plan, new_care_plan
from tests.conftest import Staff
from tests.referrals.factories import (
    new_client,
    new_referral,
    new_referring_professional,
    new_therapist,
    problem_locs,
)

STATUSES = [s.value for s in CarePlanStatus]
# contract §5, written out by hand
ALLOWED_MOVES = {
    ("draft", "active"),
    ("draft", "revoked"),
    ("active", "on_hold"),
    ("active", "completed"),
    ("active", "revoked"),
    ("on_hold", "active"),
    ("on_hold", "completed"),
    ("on_hold", "revoked"),
} | {(s, "entered_in_error") for s in STATUSES}
MISSING = "00000000-0000-4000-8000-000000000000"


async def _ids(http: httpx.AsyncClient, query: str, headers: dict[str, str]) -> list[str]:
    response = await http.get(f"/v1/care-plans?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# ---- create, read, update, archive -----------------------------------------------------------


async def test_create_get_patch_archive(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    therapist = staff.headers("therapist")
    rp = str(staff.referring_professional_id)
    first = (await new_referral(client, therapist, client_id, rp))["id"]
    second = (await new_referral(client, therapist, client_id, rp))["id"]
    body = care_plan(
        client_id,
        referral_ids=[second, first, second],
        primary_therapist_id=str(staff.therapist_id),
        coordinated_care=[
            {"referring_professional_id": rp, "discipline": "physical_therapy",
             "description": "Physiotherapy twice a week"},
            {"discipline": "psychotherapy"},
        ],
    )  # fmt: skip
    response = await client.post("/v1/care-plans", json=body, headers=therapist)
    assert response.status_code == 201, response.text
    plan = response.json()
    pid = plan["id"]
    assert response.headers["location"] == f"/v1/care-plans/{pid}"
    assert response.headers["etag"] == '"1"'
    assert plan["version"] == 1
    assert plan["status"] == "draft"
    assert plan["referral_ids"] == [first, second]  # oldest referral first, once each
    assert plan["primary_therapist_id"] == str(staff.therapist_id)
    assert plan["coordinated_care"] == [
        {"referring_professional_id": rp, "discipline": "physical_therapy",
         "description": "Physiotherapy twice a week"},
        {"referring_professional_id": None, "discipline": "psychotherapy", "description": None},
    ]  # fmt: skip
    assert plan["sessions_per_week"] == 1
    assert plan["notes"] == "Client prefers moderate pressure"

    fetched = await client.get(f"/v1/care-plans/{pid}", headers=therapist)
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == plan

    patched = await client.patch(
        f"/v1/care-plans/{pid}",
        json={"status": "active", "notes": None, "coordinated_care": [], "planned_sessions": 10},
        headers={**therapist, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    changed = patched.json()
    assert changed["status"] == "active"
    assert changed["notes"] is None
    assert changed["coordinated_care"] == []
    assert changed["planned_sessions"] == 10
    assert changed["referral_ids"] == [first, second]
    assert changed["title"] == plan["title"]

    gone = await client.delete(f"/v1/care-plans/{pid}", headers=therapist)
    assert gone.status_code == 204
    assert (await client.get(f"/v1/care-plans/{pid}", headers=therapist)).status_code == 404
    archived = await client.get(f"/v1/care-plans/{pid}?include_archived=true", headers=therapist)
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert archived.json()["referral_ids"] == [first, second]
    again = await client.patch(
        f"/v1/care-plans/{pid}", json={"title": "x"}, headers={**therapist, "If-Match": '"2"'}
    )
    assert again.status_code == 404
    assert (await client.delete(f"/v1/care-plans/{pid}", headers=therapist)).status_code == 404


async def test_minimal_plan(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    response = await client.post(
        "/v1/care-plans",
        json={"client_id": client_id, "title": "Relaxation", "kind": "relaxation"},
        headers=staff.headers("admin"),
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["referral_ids"] == []
    assert plan["coordinated_care"] == []
    assert plan["status"] == "draft"
    for field in ("primary_therapist_id", "start_date", "end_date", "planned_sessions", "notes"):
        assert plan[field] is None


async def test_patch_replaces_referral_ids(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    first, second, third = [
        (await new_referral(client, admin, client_id, rp))["id"] for _ in range(3)
    ]
    plan = await new_care_plan(client, admin, client_id, referral_ids=[first, second])
    url = f"/v1/care-plans/{plan['id']}"

    replaced = await client.patch(
        url, json={"referral_ids": [third, first]}, headers={**admin, "If-Match": '"1"'}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["referral_ids"] == [first, third]
    assert replaced.json()["version"] == 2  # a change of links alone is a new version
    assert replaced.headers["etag"] == '"2"'
    assert (await client.get(url, headers=admin)).json()["referral_ids"] == [first, third]

    same = await client.patch(
        url, json={"referral_ids": [first, third]}, headers={**admin, "If-Match": '"2"'}
    )
    assert same.json()["version"] == 2

    untouched = await client.patch(url, json={"title": "New"}, headers={**admin, "If-Match": '"2"'})
    assert untouched.json()["referral_ids"] == [first, third]

    cleared = await client.patch(
        url, json={"referral_ids": []}, headers={**admin, "If-Match": '"3"'}
    )
    assert cleared.status_code == 200
    assert cleared.json()["referral_ids"] == []
    assert cleared.json()["version"] == 4

    null = await client.patch(
        url, json={"referral_ids": None}, headers={**admin, "If-Match": '"4"'}
    )
    assert problem_locs(null) == [["body"]]


async def test_an_archived_referral_may_stay_linked(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    kept = (await new_referral(client, admin, client_id, rp))["id"]
    fresh = (await new_referral(client, admin, client_id, rp))["id"]
    plan = await new_care_plan(client, admin, client_id, referral_ids=[kept])
    assert (await client.delete(f"/v1/referrals/{kept}", headers=admin)).status_code == 204
    url = f"/v1/care-plans/{plan['id']}"
    assert (await client.get(url, headers=admin)).json()["referral_ids"] == [kept]
    response = await client.patch(
        url, json={"referral_ids": [kept, fresh]}, headers={**admin, "If-Match": '"1"'}
    )
    assert response.status_code == 200, response.text
    assert response.json()["referral_ids"] == [kept, fresh]
    other = await new_care_plan(client, admin, client_id)
    relinked = await client.patch(
        f"/v1/care-plans/{other['id']}",
        json={"referral_ids": [kept]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert problem_locs(relinked) == [["body", "referral_ids", 0]]


# ---- lists -----------------------------------------------------------------------------------


async def test_filters(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    other_client = await new_client(client, admin, given_name="Noor")
    other_therapist = await new_therapist(client, admin)
    own_therapist = str(staff.therapist_id)
    a = (await new_care_plan(client, admin, client_id, primary_therapist_id=own_therapist))["id"]
    b = (await new_care_plan(client, admin, client_id, status="active"))["id"]
    c = (
        await new_care_plan(
            client, admin, other_client, primary_therapist_id=other_therapist, status="active"
        )
    )["id"]
    d = (await new_care_plan(client, admin, other_client, primary_therapist_id=own_therapist))["id"]
    assert (await client.delete(f"/v1/care-plans/{d}", headers=admin)).status_code == 204

    assert await _ids(client, "", admin) == [a, b, c]
    assert await _ids(client, f"client_id={client_id}", admin) == [a, b]
    assert await _ids(client, f"client_id={other_client}", admin) == [c]
    assert await _ids(client, "status=active", admin) == [b, c]
    assert await _ids(client, "status=draft", admin) == [a]
    assert await _ids(client, "status=on_hold", admin) == []
    assert await _ids(client, f"primary_therapist_id={own_therapist}", admin) == [a]
    assert await _ids(client, f"primary_therapist_id={other_therapist}", admin) == [c]
    assert await _ids(client, f"status=active&client_id={other_client}", admin) == [c]
    assert await _ids(client, "include_archived=true", admin) == [a, b, c, d]
    assert await _ids(
        client, f"include_archived=true&primary_therapist_id={own_therapist}", admin
    ) == [a, d]
    assert problem_locs(await client.get("/v1/care-plans?status=paused", headers=admin)) == [
        ["query", "status"]
    ]
    assert problem_locs(await client.get("/v1/care-plans?client_id=42", headers=admin)) == [
        ["query", "client_id"]
    ]


async def test_updated_since(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    old = (await new_care_plan(client, admin, client_id))["id"]
    await asyncio.sleep(0.01)
    since = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    await asyncio.sleep(0.01)
    new = (await new_care_plan(client, admin, client_id))["id"]
    assert await _ids(client, f"updated_since={since}", admin) == [new]
    touched = await client.patch(
        f"/v1/care-plans/{old}", json={"status": "active"}, headers={**admin, "If-Match": '"1"'}
    )
    assert touched.status_code == 200
    assert await _ids(client, f"updated_since={since}", admin) == [old, new]


async def test_pagination_walk(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    referral = (await new_referral(client, admin, client_id, rp))["id"]
    made = [
        (await new_care_plan(client, admin, client_id, referral_ids=[referral]))["id"]
        for _ in range(5)
    ]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/v1/care-plans?{query}", headers=admin)).json()
        assert len(page["items"]) <= 2
        if not seen:
            made.append((await new_care_plan(client, admin, client_id))["id"])
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["id"] for p in seen] == made
    assert [p["referral_ids"] for p in seen] == [[referral]] * 5 + [[]]


@contextmanager
def counted_statements(connection: AsyncConnection) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    target = connection.sync_connection
    assert target is not None
    event.listen(target, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", count)


async def test_lists_load_referrals_without_a_query_per_plan(
    client: httpx.AsyncClient, staff: Staff, client_id: str, connection: AsyncConnection
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    referrals = [(await new_referral(client, admin, client_id, rp))["id"] for _ in range(2)]

    async def statements_to_list(plans: int) -> list[str]:
        for _ in range(plans):
            await new_care_plan(client, admin, client_id, referral_ids=referrals)
        with counted_statements(connection) as statements:
            response = await client.get(f"/v1/care-plans?client_id={client_id}", headers=admin)
        assert response.status_code == 200
        assert all(item["referral_ids"] == referrals for item in response.json()["items"])
        return statements

    few = await statements_to_list(2)
    many = await statements_to_list(6)
    assert len(few) == len(many)
    assert sum("care_plan_referrals" in s for s in many) == 1

    plan_id = (await client.get("/v1/care-plans?limit=1", headers=admin)).json()["items"][0]["id"]
    with counted_statements(connection) as one:
        assert (await client.get(f"/v1/care-plans/{plan_id}", headers=admin)).status_code == 200
    assert sum("care_plan_referrals" in s for s in one) == 1


# ---- validation ------------------------------------------------------------------------------


async def test_referrals_must_be_the_clients_own(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    other_client = await new_client(client, admin, given_name="Ola")
    own = (await new_referral(client, admin, client_id, rp))["id"]
    foreign = (await new_referral(client, admin, other_client, rp))["id"]
    archived = (await new_referral(client, admin, client_id, rp))["id"]
    assert (await client.delete(f"/v1/referrals/{archived}", headers=admin)).status_code == 204

    response = await client.post(
        "/v1/care-plans",
        json=care_plan(client_id, referral_ids=[own, foreign, MISSING, archived]),
        headers=admin,
    )
    assert problem_locs(response) == [
        ["body", "referral_ids", 1],
        ["body", "referral_ids", 2],
        ["body", "referral_ids", 3],
    ]
    assert "another client" in response.json()["errors"][0]["msg"]
    assert (await _ids(client, "", admin)) == []

    plan = await new_care_plan(client, admin, client_id, referral_ids=[own])
    patched = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"referral_ids": [own, foreign]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert problem_locs(patched) == [["body", "referral_ids", 1]]
    after = (await client.get(f"/v1/care-plans/{plan['id']}", headers=admin)).json()
    assert after["referral_ids"] == [own]
    assert after["version"] == 1


async def test_references_must_exist(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    no_client = await client.post("/v1/care-plans", json=care_plan(MISSING), headers=admin)
    assert problem_locs(no_client) == [["body", "client_id"]]
    no_therapist = await client.post(
        "/v1/care-plans", json=care_plan(client_id, primary_therapist_id=MISSING), headers=admin
    )
    assert problem_locs(no_therapist) == [["body", "primary_therapist_id"]]
    rp = str(staff.referring_professional_id)
    no_professional = await client.post(
        "/v1/care-plans",
        json=care_plan(
            client_id,
            coordinated_care=[
                {"referring_professional_id": rp, "discipline": "oncology"},
                {"referring_professional_id": MISSING, "discipline": "oncology"},
            ],
        ),
        headers=admin,
    )
    assert problem_locs(no_professional) == [
        ["body", "coordinated_care", 1, "referring_professional_id"]
    ]

    plan = await new_care_plan(client, admin, client_id)
    url = f"/v1/care-plans/{plan['id']}"
    bad = await client.patch(
        url, json={"primary_therapist_id": MISSING}, headers={**admin, "If-Match": '"1"'}
    )
    assert problem_locs(bad) == [["body", "primary_therapist_id"]]
    bad = await client.patch(
        url,
        json={"coordinated_care": [{"referring_professional_id": MISSING, "discipline": "other"}]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert problem_locs(bad) == [["body", "coordinated_care", 0, "referring_professional_id"]]
    other_therapist = await new_therapist(client, admin)
    other_rp = await new_referring_professional(client, admin)
    ok = await client.patch(
        url,
        json={
            "primary_therapist_id": other_therapist,
            "coordinated_care": [{"referring_professional_id": other_rp, "discipline": "other"}],
        },
        headers={**admin, "If-Match": '"1"'},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["primary_therapist_id"] == other_therapist
    unset = await client.patch(
        url, json={"primary_therapist_id": None}, headers={**admin, "If-Match": '"2"'}
    )
    assert unset.json()["primary_therapist_id"] is None


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"start_date": "2026-05-05", "end_date": "2026-05-04"}, ["body", "end_date"]),
        ({"kind": "spa"}, ["body", "kind"]),
        ({"status": "paused"}, ["body", "status"]),
        ({"title": ""}, ["body", "title"]),
        ({"title": "t" * 201}, ["body", "title"]),
        ({"planned_sessions": 0}, ["body", "planned_sessions"]),
        ({"sessions_per_week": 0}, ["body", "sessions_per_week"]),
        ({"sessions_per_week": 15}, ["body", "sessions_per_week"]),
        ({"notes": "n" * 10_001}, ["body", "notes"]),
        ({"referral_ids": ["not-a-uuid"]}, ["body", "referral_ids", 0]),
        ({"referral_ids": [MISSING] * 51}, ["body", "referral_ids"]),
        (
            {"coordinated_care": [{"discipline": "massage"}]},
            ["body", "coordinated_care", 0, "discipline"],
        ),
        ({"coordinated_care": [{}]}, ["body", "coordinated_care", 0, "discipline"]),
        (
            {"coordinated_care": [{"discipline": "other", "description": "d" * 2001}]},
            ["body", "coordinated_care", 0, "description"],
        ),
        (
            {"coordinated_care": [{"discipline": "other", "extra": 1}]},
            ["body", "coordinated_care", 0, "extra"],
        ),
        ({"coordinated_care": [{"discipline": "other"}] * 21}, ["body", "coordinated_care"]),
        ({"id": MISSING}, ["body", "id"]),
        ({"version": 2}, ["body", "version"]),
        ({"updated_at": "2026-01-01T00:00:00Z"}, ["body", "updated_at"]),
    ],
)
async def test_create_rejects(
    client: httpx.AsyncClient,
    staff: Staff,
    client_id: str,
    overrides: dict[str, Any],
    loc: list[str | int],
) -> None:
    response = await client.post(
        "/v1/care-plans", json=care_plan(client_id, **overrides), headers=staff.headers("admin")
    )
    assert problem_locs(response) == [loc]


async def test_coordinated_care_description_may_be_2000_characters(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    entry = {"discipline": "occupational_therapy", "description": "d" * 2000}
    plan = await new_care_plan(client, staff.headers("admin"), client_id, coordinated_care=[entry])
    assert plan["coordinated_care"][0]["description"] == "d" * 2000


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"end_date": "2026-03-01"}, ["body", "end_date"]),
        ({"start_date": "2026-06-01"}, ["body", "start_date"]),
        ({"client_id": MISSING}, ["body", "client_id"]),
        ({"title": None}, ["body"]),
        ({"kind": None}, ["body"]),
        ({"status": None}, ["body"]),
        ({"coordinated_care": None}, ["body"]),
        ({"kind": "spa"}, ["body", "kind"]),
        ({"created_at": "2026-01-01T00:00:00Z"}, ["body", "created_at"]),
    ],
)
async def test_patch_rejects(
    client: httpx.AsyncClient,
    staff: Staff,
    plan: dict[str, Any],
    patch: dict[str, Any],
    loc: list[str],
) -> None:
    admin = staff.headers("admin")
    url = f"/v1/care-plans/{plan['id']}"
    response = await client.patch(url, json=patch, headers={**admin, "If-Match": '"1"'})
    assert problem_locs(response) == [loc]
    assert (await client.get(url, headers=admin)).json() == plan


async def test_dates_may_be_moved_together(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    response = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"start_date": "2026-06-01", "end_date": "2026-06-01"},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    cleared = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"end_date": None, "start_date": "2027-01-01"},
        headers={**staff.headers("admin"), "If-Match": '"2"'},
    )
    assert cleared.status_code == 200
    assert cleared.json()["end_date"] is None


async def test_if_match(client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]) -> None:
    admin = staff.headers("admin")
    url = f"/v1/care-plans/{plan['id']}"
    missing = await client.patch(url, json={"title": "a"}, headers=admin)
    assert missing.status_code == 428
    assert missing.json()["type"] == "/problems/precondition-required"
    stale = await client.patch(url, json={"title": "a"}, headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/precondition-failed"
    weak = await client.patch(url, json={"title": "a"}, headers={**admin, "If-Match": 'W/"1"'})
    assert weak.status_code == 200
    late = await client.patch(url, json={"status": "active"}, headers={**admin, "If-Match": '"1"'})
    assert late.status_code == 412
    assert (await client.get(url, headers=admin)).json()["status"] == "draft"


# ---- status moves ----------------------------------------------------------------------------


def test_machine_table() -> None:
    for current, target in itertools.product(STATUSES, STATUSES):
        expected = current == target or (current, target) in ALLOWED_MOVES
        assert CARE_PLAN_STATUS.allows(current, target) is expected, (current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
async def test_status_moves(
    client: httpx.AsyncClient, staff: Staff, client_id: str, current: str, target: str
) -> None:
    therapist = staff.headers("therapist")
    plan = await new_care_plan(client, therapist, client_id, status=current)
    assert plan["status"] == current
    response = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"status": target},
        headers={**therapist, "If-Match": '"1"'},
    )
    if current == target or (current, target) in ALLOWED_MOVES:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
    else:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"] == "/problems/invalid-transition"
        assert problem["current_status"] == current
        assert target not in problem["allowed_statuses"]
        assert "entered_in_error" in problem["allowed_statuses"]
        after = (await client.get(f"/v1/care-plans/{plan['id']}", headers=therapist)).json()
        assert (after["status"], after["version"]) == (current, 1)


async def test_a_refused_move_changes_nothing_else(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    plan = await new_care_plan(client, admin, client_id, status="completed")
    response = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"status": "active", "title": "Reopened"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert response.status_code == 409
    after = (await client.get(f"/v1/care-plans/{plan['id']}", headers=admin)).json()
    assert after["title"] == plan["title"]


# ---- roles -----------------------------------------------------------------------------------


async def test_front_desk_reads_without_clinical_fields(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    desk = staff.headers("front_desk")
    clinical = {"notes", "coordinated_care"}
    one = await client.get(f"/v1/care-plans/{plan['id']}", headers=desk)
    assert one.status_code == 200
    assert one.headers["etag"] == '"1"'
    assert not clinical & one.json().keys()
    assert one.json()["title"] == plan["title"]
    assert one.json()["referral_ids"] == []
    items = (await client.get("/v1/care-plans", headers=desk)).json()["items"]
    assert [item["id"] for item in items] == [plan["id"]]
    assert not clinical & items[0].keys()
    assert clinical <= plan.keys()


@pytest.mark.parametrize("role", [Role.front_desk, Role.referrer])
async def test_only_clinicians_write(
    client: httpx.AsyncClient, staff: Staff, client_id: str, plan: dict[str, Any], role: Role
) -> None:
    headers = staff.headers(role)
    url = f"/v1/care-plans/{plan['id']}"
    created = await client.post("/v1/care-plans", json=care_plan(client_id), headers=headers)
    assert created.status_code == 403
    assert created.json()["type"] == "/problems/forbidden"
    patched = await client.patch(
        url, json={"status": "active"}, headers={**headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 403
    assert (await client.delete(url, headers=headers)).status_code == 403
    admin = staff.headers("admin")
    after = (await client.get(url, headers=admin)).json()
    assert (after["status"], after["archived_at"]) == ("draft", None)


async def test_referrer_reads_nothing(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    referrer = staff.headers("referrer")
    assert (await client.get("/v1/care-plans", headers=referrer)).status_code == 403
    assert (await client.get(f"/v1/care-plans/{plan['id']}", headers=referrer)).status_code == 403
    assert (await client.get("/v1/care-plans")).status_code == 401


async def test_admin_writes_too(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    response = await client.patch(
        f"/v1/care-plans/{plan['id']}",
        json={"status": "revoked"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert (await client.delete(f"/v1/care-plans/{plan['id']}", headers=admin)).status_code == 204


async def test_every_access_is_audited_with_the_client(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    therapist = staff.headers("therapist")
    desk = staff.headers("front_desk")
    pid = (await new_care_plan(client, therapist, client_id))["id"]
    await client.get(f"/v1/care-plans/{pid}", headers=desk)
    await client.get("/v1/care-plans", headers=desk)
    await client.patch(
        f"/v1/care-plans/{pid}", json={"status": "active"}, headers={**therapist, "If-Match": '"1"'}
    )
    await client.delete(f"/v1/care-plans/{pid}", headers=therapist)
    events = (
        await client.get(
            f"/v1/audit-events?client_id={client_id}&limit=200", headers=staff.headers("admin")
        )
    ).json()["items"]
    plan_events = [e for e in events if e["resource_type"] == "care_plan"]
    assert [(e["action"], e["role"]) for e in plan_events] == [
        ("create", "therapist"),
        ("read", "front_desk"),
        ("read", "front_desk"),
        ("update", "therapist"),
        ("delete", "therapist"),
    ]
    assert {e["resource_id"] for e in plan_events} == {pid}
