from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from app.care_plans.schemas import MEASURE_RANGES, check_measure_value
from app.core.security import Role
from tests.care_plans.factories import goal, new_care_plan, new_goal
from tests.conftest import Staff
from tests.referrals.factories import problem_locs

MISSING = "00000000-0000-4000-8000-000000000000"


# ---- the measure table -----------------------------------------------------------------------


def test_every_measure_has_a_range_entry() -> None:
    assert set(MEASURE_RANGES) == {"nprs", "odi", "rmdq", "psfs", "rom", "custom"}
    assert MEASURE_RANGES["nprs"] == (0, 10)
    assert MEASURE_RANGES["odi"] == (0, 100)
    assert MEASURE_RANGES["rmdq"] == (0, 24)
    assert MEASURE_RANGES["psfs"] == (0, 10)
    assert MEASURE_RANGES["rom"] == (0, 360)
    assert MEASURE_RANGES["custom"] is None


@pytest.mark.parametrize(
    ("measure", "value", "valid"),
    [
        ("nprs", 0, True),
        ("nprs", 10, True),
        ("nprs", 6.5, True),
        ("nprs", 10.1, False),
        ("nprs", -1, False),
        ("odi", 100, True),
        ("odi", 100.5, False),
        ("rmdq", 24, True),
        ("rmdq", 25, False),
        ("psfs", 10, True),
        ("psfs", 11, False),
        ("rom", 0, True),
        ("rom", 360, True),
        ("rom", 361, False),
        ("rom", -5, False),
        ("custom", -1e9, True),
        ("custom", 1e9, True),
        ("custom", math.inf, False),
        ("nprs", math.nan, False),
        ("vas", 5, False),
    ],
)
def test_check_measure_value(measure: str, value: float, valid: bool) -> None:
    problem = check_measure_value(measure, value)
    assert (problem is None) is valid
    if not valid:
        assert isinstance(problem, str)
        assert problem


def test_the_message_names_the_range() -> None:
    assert check_measure_value("rmdq", 30) == "30 is outside the rmdq range 0–24"


# ---- create, read, update --------------------------------------------------------------------


async def test_create_list_get_patch(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    therapist = staff.headers("therapist")
    response = await client.post(
        f"/v1/care-plans/{plan['id']}/goals", json=goal(), headers=therapist
    )
    assert response.status_code == 201, response.text
    made = response.json()
    gid = made["id"]
    assert response.headers["location"] == f"/v1/goals/{gid}"
    assert response.headers["etag"] == '"1"'
    assert made["care_plan_id"] == plan["id"]
    assert made["status"] == "proposed"
    assert made["measure"] == "nprs"
    assert (made["baseline_value"], made["target_value"]) == (7, 3)
    assert made["target_date"] == "2026-05-04"
    assert made["version"] == 1

    fetched = await client.get(f"/v1/goals/{gid}", headers=therapist)
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == made

    listed = await client.get(f"/v1/care-plans/{plan['id']}/goals", headers=therapist)
    assert listed.json() == {"items": [made], "next_cursor": None}

    patched = await client.patch(
        f"/v1/goals/{gid}",
        json={"status": "active", "target_value": 2, "unit": None},
        headers={**therapist, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    body = patched.json()
    # without a unit of its own, a goal has its measure's: the one FHIR and summaries show
    assert (body["status"], body["target_value"], body["unit"], body["version"]) == (
        "active",
        2,
        "points",
        2,
    )
    assert body["description"] == made["description"]


async def test_goal_status_moves_freely(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    gid = (await new_goal(client, admin, plan["id"]))["id"]
    version = 1
    for status in ["achieved", "proposed", "cancelled", "active", "not_achieved", "achieved"]:
        response = await client.patch(
            f"/v1/goals/{gid}",
            json={"status": status},
            headers={**admin, "If-Match": f'"{version}"'},
        )
        assert response.status_code == 200, (status, response.text)
        assert response.json()["status"] == status
        version = response.json()["version"]
    bad = await client.patch(
        f"/v1/goals/{gid}", json={"status": "done"}, headers={**admin, "If-Match": f'"{version}"'}
    )
    assert problem_locs(bad) == [["body", "status"]]


async def test_list_goals_of_a_plan(
    client: httpx.AsyncClient, staff: Staff, client_id: str, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    other_plan = await new_care_plan(client, admin, client_id)
    made = [
        (await new_goal(client, admin, plan["id"], description=f"G{i}"))["id"] for i in range(5)
    ]
    await new_goal(client, admin, other_plan["id"])
    active = await new_goal(client, admin, plan["id"], status="active")

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (
            await client.get(f"/v1/care-plans/{plan['id']}/goals?{query}", headers=admin)
        ).json()
        seen += [g["id"] for g in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*made, active["id"]]
    assert pages == 3

    by_status = await client.get(f"/v1/care-plans/{plan['id']}/goals?status=active", headers=admin)
    assert [g["id"] for g in by_status.json()["items"]] == [active["id"]]
    since = active["created_at"]
    recent = await client.get(
        f"/v1/care-plans/{plan['id']}/goals?updated_since={since}", headers=admin
    )
    assert [g["id"] for g in recent.json()["items"]] == [active["id"]]
    missing = await client.get(f"/v1/care-plans/{MISSING}/goals", headers=admin)
    assert missing.status_code == 404


async def test_goals_of_an_archived_plan_are_gone(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    gid = (await new_goal(client, admin, plan["id"]))["id"]
    assert (await client.delete(f"/v1/care-plans/{plan['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/v1/goals/{gid}", headers=admin)).status_code == 404
    assert (
        await client.get(f"/v1/care-plans/{plan['id']}/goals", headers=admin)
    ).status_code == 404
    added = await client.post(f"/v1/care-plans/{plan['id']}/goals", json=goal(), headers=admin)
    assert added.status_code == 404
    patched = await client.patch(
        f"/v1/goals/{gid}", json={"status": "active"}, headers={**admin, "If-Match": '"1"'}
    )
    assert patched.status_code == 404
    assert (await client.get(f"/v1/goals/{MISSING}", headers=admin)).status_code == 404


# ---- measure ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "inside", "outside"),
    [
        ("nprs", 10, 11),
        ("nprs", 0, -0.5),
        ("odi", 100, 100.5),
        ("rmdq", 24, 25),
        ("psfs", 10, 12),
        ("rom", 360, 361),
        ("rom", 0, -10),
    ],
)
async def test_values_in_the_measures_range_on_create(
    client: httpx.AsyncClient,
    staff: Staff,
    plan: dict[str, Any],
    measure: str,
    inside: float,
    outside: float,
) -> None:
    admin = staff.headers("admin")
    url = f"/v1/care-plans/{plan['id']}/goals"
    fine = await client.post(
        url, json=goal(measure=measure, baseline_value=inside, target_value=inside), headers=admin
    )
    assert fine.status_code == 201, fine.text
    low_baseline = await client.post(
        url, json=goal(measure=measure, baseline_value=outside, target_value=inside), headers=admin
    )
    assert problem_locs(low_baseline) == [["body", "baseline_value"]]
    assert measure in low_baseline.json()["errors"][0]["msg"]
    both = await client.post(
        url, json=goal(measure=measure, baseline_value=outside, target_value=outside), headers=admin
    )
    assert problem_locs(both) == [["body", "baseline_value"], ["body", "target_value"]]


async def test_rom_in_degrees(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    made = await new_goal(
        client,
        staff.headers("admin"),
        plan["id"],
        measure="rom",
        measure_label="Cervical rotation, left",
        unit="degrees",
        baseline_value=45,
        target_value=80,
    )
    assert (made["measure"], made["unit"], made["target_value"]) == ("rom", "degrees", 80)


async def test_custom_measures_need_a_label_and_have_no_range(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    url = f"/v1/care-plans/{plan['id']}/goals"
    unlabelled = await client.post(
        url, json=goal(measure="custom", baseline_value=2, target_value=30), headers=admin
    )
    assert problem_locs(unlabelled) == [["body", "measure_label"]]
    labelled = await client.post(
        url,
        json=goal(
            measure="custom",
            measure_label="Minutes sitting without pain",
            unit="minutes",
            baseline_value=15,
            target_value=600,
        ),
        headers=admin,
    )
    assert labelled.status_code == 201, labelled.text
    assert labelled.json()["measure_label"] == "Minutes sitting without pain"
    negative = await client.post(
        url,
        json=goal(measure="custom", measure_label="Weight change", baseline_value=-3),
        headers=admin,
    )
    assert negative.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"measure": "vas"}, ["body", "measure"]),
        ({"description": ""}, ["body", "description"]),
        ({"description": "d" * 2001}, ["body", "description"]),
        ({"baseline_value": "high"}, ["body", "baseline_value"]),
        ({"status": "done"}, ["body", "status"]),
        ({"unit": "u" * 51}, ["body", "unit"]),
        ({"measure_label": "l" * 201}, ["body", "measure_label"]),
        ({"care_plan_id": MISSING}, ["body", "care_plan_id"]),
        ({"id": MISSING}, ["body", "id"]),
        ({"version": 1}, ["body", "version"]),
    ],
)
async def test_create_rejects(
    client: httpx.AsyncClient,
    staff: Staff,
    plan: dict[str, Any],
    overrides: dict[str, Any],
    loc: list[str],
) -> None:
    response = await client.post(
        f"/v1/care-plans/{plan['id']}/goals",
        json=goal(**overrides),
        headers=staff.headers("admin"),
    )
    assert problem_locs(response) == [loc]


async def test_non_finite_values_are_refused(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    body = b'{"description": "x", "measure": "custom", "measure_label": "y", "baseline_value": NaN}'
    response = await client.post(
        f"/v1/care-plans/{plan['id']}/goals",
        content=body,
        headers={**staff.headers("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"baseline_value": 11}, ["body", "baseline_value"]),
        ({"target_value": -1}, ["body", "target_value"]),
        ({"measure": "custom"}, ["body", "measure_label"]),
        ({"measure": "rmdq", "target_value": 30}, ["body", "target_value"]),
        ({"description": None}, ["body"]),
        ({"measure": None}, ["body"]),
        ({"status": None}, ["body"]),
        ({"care_plan_id": MISSING}, ["body", "care_plan_id"]),
    ],
)
async def test_patch_checks_the_merged_goal(
    client: httpx.AsyncClient,
    staff: Staff,
    plan: dict[str, Any],
    patch: dict[str, Any],
    loc: list[str],
) -> None:
    admin = staff.headers("admin")
    made = await new_goal(client, admin, plan["id"])  # nprs 7 → 3
    response = await client.patch(
        f"/v1/goals/{made['id']}", json=patch, headers={**admin, "If-Match": '"1"'}
    )
    assert problem_locs(response) == [loc]
    assert (await client.get(f"/v1/goals/{made['id']}", headers=admin)).json() == made


async def test_patch_measure_against_the_values_it_keeps(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]
) -> None:
    admin = staff.headers("admin")
    made = await new_goal(
        client,
        admin,
        plan["id"],
        measure="odi",
        baseline_value=48,
        target_value=20,
    )
    url = f"/v1/goals/{made['id']}"
    to_nprs = await client.patch(
        url, json={"measure": "nprs"}, headers={**admin, "If-Match": '"1"'}
    )
    assert problem_locs(to_nprs) == [["body", "baseline_value"], ["body", "target_value"]]
    to_rom = await client.patch(url, json={"measure": "rom"}, headers={**admin, "If-Match": '"1"'})
    assert to_rom.status_code == 200
    to_custom = await client.patch(
        url,
        json={"measure": "custom", "measure_label": "Stairs climbed", "baseline_value": 500},
        headers={**admin, "If-Match": '"2"'},
    )
    assert to_custom.status_code == 200, to_custom.text
    unlabel = await client.patch(
        url, json={"measure_label": None}, headers={**admin, "If-Match": '"3"'}
    )
    assert problem_locs(unlabel) == [["body", "measure_label"]]
    back = await client.patch(
        url,
        json={"measure": "psfs", "baseline_value": 3, "target_value": 8},
        headers={**admin, "If-Match": '"3"'},
    )
    assert back.status_code == 200
    cleared = await client.patch(
        url, json={"baseline_value": None, "target_value": 10}, headers={**admin, "If-Match": '"4"'}
    )
    assert cleared.status_code == 200
    assert (cleared.json()["baseline_value"], cleared.json()["target_value"]) == (None, 10)


async def test_if_match(client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any]) -> None:
    admin = staff.headers("admin")
    made = await new_goal(client, admin, plan["id"])
    url = f"/v1/goals/{made['id']}"
    missing = await client.patch(url, json={"status": "active"}, headers=admin)
    assert missing.status_code == 428
    stale = await client.patch(url, json={"status": "active"}, headers={**admin, "If-Match": '"9"'})
    assert stale.status_code == 412
    assert (await client.get(url, headers=admin)).json()["status"] == "proposed"


# ---- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.front_desk, Role.referrer])
async def test_goals_are_for_clinicians_only(
    client: httpx.AsyncClient, staff: Staff, plan: dict[str, Any], role: Role
) -> None:
    gid = (await new_goal(client, staff.headers("therapist"), plan["id"]))["id"]
    headers = staff.headers(role)
    goals_url = f"/v1/care-plans/{plan['id']}/goals"
    assert (await client.get(goals_url, headers=headers)).status_code == 403
    assert (await client.post(goals_url, json=goal(), headers=headers)).status_code == 403
    assert (await client.get(f"/v1/goals/{gid}", headers=headers)).status_code == 403
    patched = await client.patch(
        f"/v1/goals/{gid}", json={"status": "active"}, headers={**headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 403
    assert (await client.get(f"/v1/goals/{gid}", headers=staff.headers("admin"))).json()[
        "status"
    ] == "proposed"


async def test_goal_access_is_audited_with_the_client(
    client: httpx.AsyncClient, staff: Staff, client_id: str, plan: dict[str, Any]
) -> None:
    therapist = staff.headers("therapist")
    gid = (await new_goal(client, therapist, plan["id"]))["id"]
    await client.get(f"/v1/goals/{gid}", headers=therapist)
    await client.get(f"/v1/care-plans/{plan['id']}/goals", headers=therapist)
    await client.patch(
        f"/v1/goals/{gid}", json={"status": "active"}, headers={**therapist, "If-Match": '"1"'}
    )
    events = (
        await client.get(
            f"/v1/audit-events?client_id={client_id}&limit=200", headers=staff.headers("admin")
        )
    ).json()["items"]
    goal_events = [e for e in events if e["resource_type"] == "goal"]
    assert [e["action"] for e in goal_events] == ["create", "read", "read", "update"]
    assert {e["resource_id"] for e in goal_events} == {gid}
    assert {e["client_id"] for e in goal_events} == {client_id}
