from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.care_plans.models import CarePlan, care_plan_referrals
from app.clients.models import Precaution
from app.directory.models import Therapist
from app.referrals.models import Referral
from tests.core.problems import assert_problem, error_locs
from tests.session_records.conftest import START, Clinic, book


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_book_read_and_list(client: httpx.AsyncClient, clinic: Clinic) -> None:
    created = await book(client, clinic)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "scheduled"
    assert body["note_status"] == "draft"
    assert body["scheduled_end"].startswith("2026-03-02T10:00:00")
    assert body["version"] == 1
    assert created.headers["location"] == f"/v1/sessions/{body['id']}"
    fetched = await client.get(f"/v1/sessions/{body['id']}", headers=clinic.staff.headers("admin"))
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'

    later = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(days=7)))
    assert later.status_code == 201
    admin = clinic.staff.headers("admin")

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/sessions?{query}", headers=admin)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    both = [body["id"], later.json()["id"]]
    assert await ids(f"client_id={clinic.client_id}") == both
    assert await ids(f"care_plan_id={clinic.plan_id}") == both
    assert await ids(f"therapist_id={clinic.therapist_id}") == both
    assert await ids(f"therapist_id={clinic.colleague_id}") == []
    assert await ids("status=scheduled") == both
    assert await ids("status=completed") == []
    assert await ids("from=2026-03-03T00:00:00Z") == [later.json()["id"]]
    assert await ids("to=2026-03-03T00:00:00Z") == [body["id"]]
    # `from` takes a session starting at that instant, `to` does not
    assert await ids("from=2026-03-09T09:00:00Z") == [later.json()["id"]]
    assert await ids("to=2026-03-09T09:00:00Z") == [body["id"]]
    assert (
        await client.get("/v1/sessions?from=2026-03-03T00:00:00", headers=admin)
    ).status_code == 422


async def test_standalone_session_without_plan(client: httpx.AsyncClient, clinic: Clinic) -> None:
    created = await book(client, clinic, care_plan_id=None, session_type="relaxation")
    assert created.status_code == 201, created.text
    assert created.json()["care_plan_id"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_minutes", 4),
        ("duration_minutes", 241),
        ("scheduled_start", "2026-03-02T09:00:00"),
        ("body_regions", ["tail"]),
        ("session_type", "reiki"),
        ("pressure", "crushing"),
        ("status", "cancelled"),
        ("signed_at", "2026-03-02T09:00:00Z"),
        ("note_status", "signed"),
        ("warnings", []),
    ],
)
async def test_invalid_bookings_are_422(
    client: httpx.AsyncClient, clinic: Clinic, field: str, value: Any
) -> None:
    response = await book(client, clinic, **{field: value})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation-error"


async def test_unknown_references_are_422(client: httpx.AsyncClient, clinic: Clinic) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for field in ("client_id", "therapist_id", "care_plan_id"):
        response = await book(client, clinic, **{field: missing})
        assert error_locs(assert_problem(response, 422, "validation-error")) == [["body", field]]
    other_clients_plan = await book(client, clinic, client_id=str(clinic.other_client_id))
    assert other_clients_plan.status_code == 422


async def test_an_inactive_therapist_is_not_booked(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        colleague = await db.get(Therapist, clinic.colleague_id)
        assert colleague is not None
        colleague.active = False
        await db.commit()
    response = await book(client, clinic, therapist_id=str(clinic.colleague_id))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [
        ["body", "therapist_id"]
    ]


# ---- double booking ----------------------------------------------------------------------------


async def test_overlapping_booking_is_refused(client: httpx.AsyncClient, clinic: Clinic) -> None:
    first = await book(client, clinic)
    assert first.status_code == 201
    overlap = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(minutes=30)))
    assert overlap.status_code == 409
    assert overlap.json()["type"] == "/problems/therapist-unavailable"
    assert overlap.json()["conflicting_session_id"] == first.json()["id"]
    other_client = await book(
        client, clinic, client_id=str(clinic.other_client_id), care_plan_id=None
    )
    assert other_client.status_code == 409
    assert other_client.json()["type"] == "/problems/therapist-unavailable"


async def test_a_client_cannot_be_booked_twice_at_once(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    first = await book(client, clinic)
    assert first.status_code == 201
    colleague = await book(
        client,
        clinic,
        therapist_id=str(clinic.colleague_id),
        scheduled_start=iso(START + dt.timedelta(minutes=59)),
    )
    assert colleague.status_code == 409, colleague.text
    problem = colleague.json()
    assert problem["type"] == "/problems/client-unavailable"
    assert problem["status"] == 409
    assert problem["conflicting_session_id"] == first.json()["id"]
    inside = await book(
        client,
        clinic,
        therapist_id=str(clinic.colleague_id),
        scheduled_start=iso(START + dt.timedelta(minutes=15)),
        duration_minutes=30,
    )
    assert inside.json()["type"] == "/problems/client-unavailable"
    another_client = await book(
        client,
        clinic,
        therapist_id=str(clinic.colleague_id),
        client_id=str(clinic.other_client_id),
        care_plan_id=None,
    )
    assert another_client.status_code == 201, another_client.text


@pytest.mark.parametrize("who", ["therapist", "client"])
async def test_touching_intervals_do_not_overlap_either_way(
    client: httpx.AsyncClient, clinic: Clinic, who: str
) -> None:
    """09:00–10:00 is booked. Ending at 09:00 or starting at 10:00 touches it and is free; a
    minute more on either side overlaps. Same therapist, or same client with another one."""
    assert (await book(client, clinic)).status_code == 201
    problem = f"/problems/{who}-unavailable"
    therapist = str(clinic.therapist_id if who == "therapist" else clinic.colleague_id)
    extra: dict[str, Any] = (
        {"client_id": str(clinic.other_client_id), "care_plan_id": None}
        if who == "therapist"
        else {}
    )

    async def attempt(start: dt.datetime, minutes: int) -> httpx.Response:
        return await book(
            client,
            clinic,
            therapist_id=therapist,
            scheduled_start=iso(start),
            duration_minutes=minutes,
            **extra,
        )

    before_overlapping = await attempt(START - dt.timedelta(minutes=30), 31)
    assert before_overlapping.status_code == 409
    assert before_overlapping.json()["type"] == problem
    after_overlapping = await attempt(START + dt.timedelta(minutes=59), 30)
    assert after_overlapping.status_code == 409
    assert after_overlapping.json()["type"] == problem
    ends_at_its_start = await attempt(START - dt.timedelta(minutes=30), 30)
    assert ends_at_its_start.status_code == 201, ends_at_its_start.text
    starts_at_its_end = await attempt(START + dt.timedelta(hours=1), 30)
    assert starts_at_its_end.status_code == 201, starts_at_its_end.text


async def test_moving_onto_the_clients_other_session_is_refused(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    await book(client, clinic)
    later = (
        await book(
            client,
            clinic,
            therapist_id=str(clinic.colleague_id),
            scheduled_start=iso(START + dt.timedelta(hours=3)),
        )
    ).json()
    url = f"/v1/sessions/{later['id']}"
    admin = clinic.staff.headers("admin")
    moved = await client.patch(
        url, json={"scheduled_start": iso(START)}, headers={**admin, "If-Match": '"1"'}
    )
    assert moved.status_code == 409
    assert moved.json()["type"] == "/problems/client-unavailable"
    touching = await client.patch(
        url,
        json={"scheduled_start": iso(START + dt.timedelta(hours=1))},
        headers={**admin, "If-Match": '"1"'},
    )
    assert touching.status_code == 200, touching.text


async def test_a_cancelled_session_does_not_hold_the_client(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    first = (await book(client, clinic)).json()
    cancelled = await client.patch(
        f"/v1/sessions/{first['id']}",
        json={"status": "cancelled"},
        headers={**clinic.staff.headers("front_desk"), "If-Match": '"1"'},
    )
    assert cancelled.status_code == 200
    again = await book(client, clinic, therapist_id=str(clinic.colleague_id))
    assert again.status_code == 201, again.text


async def test_cancelled_session_frees_the_slot(client: httpx.AsyncClient, clinic: Clinic) -> None:
    first = (await book(client, clinic)).json()
    cancelled = await client.patch(
        f"/v1/sessions/{first['id']}",
        json={"status": "cancelled"},
        headers={**clinic.staff.headers("front_desk"), "If-Match": '"1"'},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (await book(client, clinic)).status_code == 201


async def test_moving_a_session_onto_another_is_refused(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    await book(client, clinic)
    later = (await book(client, clinic, scheduled_start=iso(START + dt.timedelta(hours=3)))).json()
    moved = await client.patch(
        f"/v1/sessions/{later['id']}",
        json={"scheduled_start": iso(START)},
        headers={**clinic.staff.headers("admin"), "If-Match": '"1"'},
    )
    assert moved.status_code == 409
    assert moved.json()["type"] == "/problems/therapist-unavailable"


# ---- screening ---------------------------------------------------------------------------------


async def add_precaution(
    sessionmaker: async_sessionmaker[AsyncSession], clinic: Clinic, **fields: Any
) -> str:
    async with sessionmaker() as db:
        values: dict[str, Any] = {
            "body_regions": [],
            "status": "active",
            "requires_clearance": False,
            **fields,
        }
        row = Precaution(client_id=clinic.client_id, **values)
        db.add(row)
        await db.commit()
        return str(row.id)


async def test_absolute_precaution_needing_clearance_blocks(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid = await add_precaution(
        sessionmaker, clinic, category="dvt", severity="absolute", requires_clearance=True
    )
    blocked = await book(client, clinic)
    assert blocked.status_code == 409
    problem = blocked.json()
    assert problem["type"] == "/problems/contraindicated"
    assert problem["blocking"][0]["precaution_id"] == pid
    assert problem["blocking"][0]["category"] == "dvt"
    assert problem["blocking"][0]["reason"]

    cleared = await client.post(
        f"/v1/precautions/{pid}/clearance",
        json={
            "referring_professional_id": str(clinic.staff.referring_professional_id),
            "cleared_on": "2026-02-01",
            "note": "Cleared by vascular surgeon",
        },
        headers=clinic.staff.headers("therapist"),
    )
    assert cleared.status_code == 200, cleared.text
    booked = await book(client, clinic)
    assert booked.status_code == 201, booked.text
    assert any(w.get("precaution_id") == pid for w in booked.json()["warnings"])


async def test_local_precaution_blocks_only_its_regions(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_precaution(
        sessionmaker, clinic, category="skin_condition", severity="local", body_regions=["hips"]
    )
    assert (await book(client, clinic)).status_code == 409
    fine = await book(client, clinic, body_regions=["neck", "shoulders"])
    assert fine.status_code == 201, fine.text
    assert fine.json()["warnings"]


async def test_relative_precaution_warns(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid = await add_precaution(sessionmaker, clinic, category="anticoagulants", severity="relative")
    booked = await book(client, clinic)
    assert booked.status_code == 201
    assert [w["precaution_id"] for w in booked.json()["warnings"]] == [pid]


async def test_resolved_precaution_is_ignored(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        db.add(
            Precaution(
                client_id=clinic.client_id,
                category="dvt",
                severity="absolute",
                requires_clearance=True,
                body_regions=[],
                status="resolved",
            )
        )
        await db.commit()
    booked = await book(client, clinic)
    assert booked.status_code == 201
    assert booked.json()["warnings"] == []


async def test_expired_license_blocks(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        therapist = await db.get(Therapist, clinic.therapist_id)
        assert therapist is not None
        therapist.license_expires_on = dt.date(2026, 3, 1)
        await db.commit()
    blocked = await book(client, clinic)
    assert blocked.status_code == 409
    assert blocked.json()["blocking"][0]["category"] == "license"


async def test_pregnancy_needs_prenatal_certification(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_precaution(sessionmaker, clinic, category="pregnancy", severity="relative")
    assert (await book(client, clinic)).status_code == 409
    colleague = await book(
        client, clinic, therapist_id=str(clinic.colleague_id), session_type="prenatal"
    )
    assert colleague.status_code == 201, colleague.text


async def test_due_date_in_future_needs_prenatal_certification(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    admin = clinic.staff.headers("admin")
    current = (await client.get(f"/v1/clients/{clinic.client_id}", headers=admin)).json()
    patched = await client.patch(
        f"/v1/clients/{clinic.client_id}",
        json={"pregnancy_due_date": "2026-07-01"},
        headers={**admin, "If-Match": f'"{current["version"]}"'},
    )
    assert patched.status_code == 200
    assert (await book(client, clinic)).status_code == 409


async def test_cancer_needs_oncology_certification(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_precaution(sessionmaker, clinic, category="cancer", severity="relative")
    assert (await book(client, clinic)).status_code == 409
    assert (await book(client, clinic, therapist_id=str(clinic.colleague_id))).status_code == 201


async def test_referral_limits_surface_as_warnings(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    codes = []
    for week in range(4):
        booked = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=week)))
        assert booked.status_code == 201
        codes.append({w["code"] for w in booked.json()["warnings"]})
    assert "authorized_sessions_exceeded" not in codes[2]
    assert "authorized_sessions_exceeded" in codes[3]
    expired = await book(client, clinic, scheduled_start="2026-07-01T09:00:00Z")
    assert "referral_expired" in {w["code"] for w in expired.json()["warnings"]}


async def test_cancelled_and_archived_sessions_use_up_no_referral(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    # the plan's referral authorizes 3 sessions
    def week(n: int) -> str:
        return iso(START + dt.timedelta(weeks=n))

    def codes(body: dict[str, Any]) -> set[str]:
        return {w["code"] for w in body["warnings"]}

    assert (await book(client, clinic, scheduled_start=week(0))).status_code == 201
    cancelled = (await book(client, clinic, scheduled_start=week(1))).json()
    archived = (await book(client, clinic, scheduled_start=week(2))).json()
    cancel = await client.patch(
        f"/v1/sessions/{cancelled['id']}",
        json={"status": "cancelled"},
        headers=patch_headers(clinic, 1),
    )
    assert cancel.status_code == 200, cancel.text
    archive = await client.delete(
        f"/v1/sessions/{archived['id']}", headers=clinic.staff.headers("admin")
    )
    assert archive.status_code == 204
    assert (await book(client, clinic, scheduled_start=week(3))).status_code == 201
    third = (await book(client, clinic, scheduled_start=week(4))).json()
    assert "authorized_sessions_exceeded" not in codes(third)
    # screened again, the third session is still the third, not counted twice
    again = await client.patch(
        f"/v1/sessions/{third['id']}",
        json={"body_regions": ["neck"]},
        headers=patch_headers(clinic, 1),
    )
    assert again.status_code == 200, again.text
    assert "authorized_sessions_exceeded" not in codes(again.json())
    fourth = (await book(client, clinic, scheduled_start=week(5))).json()
    assert "authorized_sessions_exceeded" in codes(fourth)


async def test_a_first_session_is_within_a_one_session_referral(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        referral = await db.get(Referral, clinic.referral_id)
        assert referral is not None
        referral.authorized_sessions = 1
        await db.commit()
    first = await book(client, clinic)
    assert first.status_code == 201, first.text
    assert first.json()["warnings"] == []
    second = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=1)))
    assert [w["code"] for w in second.json()["warnings"]] == ["authorized_sessions_exceeded"]


async def test_each_referral_of_a_plan_counts_the_plans_sessions_once(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # a second referral of 3 sessions answered by the same plan
    async with sessionmaker() as db:
        first = await db.get(Referral, clinic.referral_id)
        assert first is not None
        second = Referral(
            client_id=clinic.client_id,
            referring_professional_id=first.referring_professional_id,
            received_on=dt.date(2026, 1, 20),
            authorized_sessions=3,
            valid_until=dt.date(2026, 6, 30),
            status="accepted",
        )
        db.add(second)
        await db.flush()
        await db.execute(
            care_plan_referrals.insert().values(care_plan_id=clinic.plan_id, referral_id=second.id)
        )
        await db.commit()
    for week in range(3):
        booked = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=week)))
        assert booked.status_code == 201, booked.text
        assert booked.json()["warnings"] == []
    fourth = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=3)))
    codes = [w["code"] for w in fourth.json()["warnings"]]
    assert codes == ["authorized_sessions_exceeded", "authorized_sessions_exceeded"]


async def test_a_session_cancelled_as_it_is_screened_again_uses_no_referral(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    # the plan's referral authorizes 3 sessions: the fourth is over, until it is cancelled
    for week in range(3):
        booked = await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=week)))
        assert booked.status_code == 201, booked.text
    fourth = (await book(client, clinic, scheduled_start=iso(START + dt.timedelta(weeks=3)))).json()
    assert [w["code"] for w in fourth["warnings"]] == ["authorized_sessions_exceeded"]
    cancelled = await client.patch(
        f"/v1/sessions/{fourth['id']}",
        json={"status": "cancelled", "body_regions": ["neck"]},
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["warnings"] == []


async def test_an_archived_referral_is_not_weighed(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        referral = await db.get(Referral, clinic.referral_id)
        assert referral is not None
        referral.archived_at = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        await db.commit()
    # past the referral's valid_until, and its fourth session: no warning from it
    for week in range(4):
        start = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC) + dt.timedelta(weeks=week)
        booked = await book(client, clinic, scheduled_start=iso(start))
        assert booked.status_code == 201, booked.text
        assert booked.json()["warnings"] == []


async def test_changing_regions_is_screened_again(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_precaution(
        sessionmaker, clinic, category="recent_surgery", severity="local", body_regions=["knees"]
    )
    relative = await add_precaution(sessionmaker, clinic, category="allergy", severity="relative")
    session = (await book(client, clinic)).json()
    moved = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"body_regions": ["knees", "legs"]},
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert moved.status_code == 409
    assert moved.json()["type"] == "/problems/contraindicated"
    # what would still need care is said alongside what blocks
    assert [(w["code"], w.get("precaution_id")) for w in moved.json()["warnings"]] == [
        ("relative_precaution", relative)
    ]
    unchanged = await client.get(
        f"/v1/sessions/{session['id']}", headers=clinic.staff.headers("admin")
    )
    assert unchanged.json()["body_regions"] == ["lower_back", "hips"]
    assert unchanged.json()["version"] == 1


async def test_completion_is_screened_again(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = (await book(client, clinic)).json()
    await add_precaution(
        sessionmaker,
        clinic,
        category="fever_infection",
        severity="absolute",
        requires_clearance=True,
    )
    completed = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"status": "completed"},
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert completed.status_code == 409
    assert completed.json()["type"] == "/problems/contraindicated"


# ---- status, completion and measurements -------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "then", "allowed"),
    [
        ("completed", "scheduled", False),
        ("completed", "cancelled", False),
        ("cancelled", "completed", False),
        ("cancelled", "scheduled", False),
        ("no_show", "completed", False),
        ("no_show", "scheduled", False),
        ("completed", "no_show", False),
    ],
)
async def test_session_status_moves(
    client: httpx.AsyncClient, clinic: Clinic, first: str, then: str, allowed: bool
) -> None:
    session = (await book(client, clinic)).json()
    headers = clinic.staff.headers("admin")
    step = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"status": first},
        headers={**headers, "If-Match": '"1"'},
    )
    assert step.status_code == 200, step.text
    second = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"status": then},
        headers={**headers, "If-Match": '"2"'},
    )
    assert second.status_code == (200 if allowed else 409)
    if not allowed:
        assert second.json()["type"] == "/problems/invalid-transition"


def completion(**overrides: Any) -> dict[str, Any]:
    return {
        "status": "completed",
        "techniques": ["myofascial release", "trigger point"],
        "pressure": "moderate",
        "health_update": "Slept better; no new medication",
        "soap": {
            "subjective": "Pain 6/10",
            "objective": "Tight QL",
            "assessment": "Improving",
            "plan": "Continue weekly",
        },
        "home_care": "Cat-cow stretch twice a day",
        **overrides,
    }


async def test_complete_with_note_and_measurements(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    body = completion(
        measurements=[
            {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 6, "timing": "pre"},
            {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 4, "timing": "post"},
            {"measure": "rom", "value": 120, "unit": "degrees", "timing": "post"},
        ]
    )
    done = await client.patch(
        f"/v1/sessions/{session['id']}",
        json=body,
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "completed"
    assert [(m["value"], m["unit"]) for m in result["measurements"]] == [
        (6, None),
        (4, None),
        (120, "degrees"),
    ]
    assert result["soap"]["plan"] == "Continue weekly"


@pytest.mark.parametrize(
    ("measurement", "field"),
    [
        ({"measure": "nprs", "value": 11, "timing": "pre"}, "value"),
        ({"measure": "odi", "value": -1, "timing": "pre"}, "value"),
        ({"measure": "rmdq", "value": 25, "timing": "post"}, "value"),
        ({"measure": "nprs", "value": 3, "timing": "during"}, "timing"),
    ],
)
async def test_measurement_out_of_range_is_422(
    client: httpx.AsyncClient, clinic: Clinic, measurement: dict[str, Any], field: str
) -> None:
    fine = {"measure": "nprs", "value": 5, "timing": "pre"}
    response = await book(client, clinic, measurements=[fine, measurement])
    body = assert_problem(response, 422, "validation-error")
    assert error_locs(body) == [["body", "measurements", 1, field]]


async def test_measurement_must_fit_its_goal(client: httpx.AsyncClient, clinic: Clinic) -> None:
    wrong_measure = await book(
        client,
        clinic,
        measurements=[
            {"goal_id": str(clinic.goal_id), "measure": "odi", "value": 30, "timing": "pre"}
        ],
    )
    assert error_locs(assert_problem(wrong_measure, 422, "validation-error")) == [
        ["body", "measurements", 0, "measure"]
    ]
    no_plan = await book(
        client,
        clinic,
        care_plan_id=None,
        measurements=[
            {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 3, "timing": "pre"}
        ],
    )
    assert error_locs(assert_problem(no_plan, 422, "validation-error")) == [
        ["body", "measurements", 0, "goal_id"]
    ]
    # a measurement without a goal first: the one after it is still checked
    unknown = await book(
        client,
        clinic,
        measurements=[
            {"measure": "rom", "value": 100, "timing": "pre"},
            {
                "goal_id": "00000000-0000-4000-8000-000000000000",
                "measure": "nprs",
                "value": 3,
                "timing": "pre",
            },
        ],
    )
    assert error_locs(assert_problem(unknown, 422, "validation-error")) == [
        ["body", "measurements", 1, "goal_id"]
    ]


async def test_adjacent_appointment(client: httpx.AsyncClient, clinic: Clinic) -> None:
    adjacent = {
        "referring_professional_id": str(clinic.staff.referring_professional_id),
        "relation": "after",
        "starts_at": "2026-03-02T10:15:00Z",
    }
    booked = await book(client, clinic, adjacent_appointment=adjacent)
    assert booked.status_code == 201, booked.text
    assert booked.json()["adjacent_appointment"]["relation"] == "after"
    bad = await book(
        client,
        clinic,
        scheduled_start=iso(START + dt.timedelta(days=1)),
        adjacent_appointment={**adjacent, "relation": "during"},
    )
    assert bad.status_code == 422


async def test_a_new_session_names_a_known_adjacent_professional(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    unknown = await book(
        client,
        clinic,
        adjacent_appointment={
            "referring_professional_id": "00000000-0000-4000-8000-000000000000",
            "relation": "after",
            "starts_at": "2026-03-02T10:15:00Z",
        },
    )
    assert error_locs(assert_problem(unknown, 422, "validation-error")) == [
        ["body", "adjacent_appointment", "referring_professional_id"]
    ]


async def test_the_front_desk_cannot_book_a_completed_session(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    refused = await book(client, clinic, role="front_desk", status="completed")
    assert_problem(refused, 403, "forbidden")
    listed = await client.get("/v1/sessions", headers=clinic.staff.headers("admin"))
    assert listed.json()["items"] == []


# ---- changing a booked session ----------------------------------------------------------------


def patch_headers(clinic: Clinic, version: int, role: str = "therapist") -> dict[str, str]:
    return {**clinic.staff.headers(role), "If-Match": f'"{version}"'}


async def test_a_new_adjacent_appointment_names_a_known_professional(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    adjacent = {
        "referring_professional_id": "00000000-0000-4000-8000-000000000000",
        "relation": "before",
        "starts_at": "2026-03-02T08:00:00Z",
    }
    url = f"/v1/sessions/{session['id']}"
    unknown = await client.patch(
        url, json={"adjacent_appointment": adjacent}, headers=patch_headers(clinic, 1)
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"][0]["loc"] == [
        "body",
        "adjacent_appointment",
        "referring_professional_id",
    ]
    known = {**adjacent, "referring_professional_id": str(clinic.staff.referring_professional_id)}
    changed = await client.patch(
        url, json={"adjacent_appointment": known}, headers=patch_headers(clinic, 1)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["adjacent_appointment"]["relation"] == "before"


async def add_plan(
    sessionmaker: async_sessionmaker[AsyncSession], client_id: object, status: str = "active"
) -> str:
    async with sessionmaker() as db:
        plan = CarePlan(client_id=client_id, title="Another plan", kind="wellness", status=status)
        db.add(plan)
        await db.commit()
        return str(plan.id)


async def test_moving_a_session_to_another_plan_checks_the_plan(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    session = (await book(client, clinic)).json()
    url = f"/v1/sessions/{session['id']}"
    others = await add_plan(sessionmaker, clinic.other_client_id)
    closed = await add_plan(sessionmaker, clinic.client_id, status="completed")
    open_plan = await add_plan(sessionmaker, clinic.client_id)

    wrong_client = await client.patch(
        url, json={"care_plan_id": others}, headers=patch_headers(clinic, 1)
    )
    assert wrong_client.status_code == 422, wrong_client.text
    assert wrong_client.json()["errors"][0]["loc"] == ["body", "care_plan_id"]
    to_closed = await client.patch(
        url, json={"care_plan_id": closed}, headers=patch_headers(clinic, 1)
    )
    assert to_closed.status_code == 409, to_closed.text
    assert to_closed.json()["type"] == "/problems/conflict"
    moved = await client.patch(
        url, json={"care_plan_id": open_plan}, headers=patch_headers(clinic, 1)
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["care_plan_id"] == open_plan


async def test_a_note_is_finished_after_its_plan_closed(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # a closed plan takes no new sessions, but the sessions it has keep being written
    session = (await book(client, clinic)).json()
    async with sessionmaker() as db:
        plan = await db.get(CarePlan, clinic.plan_id)
        assert plan is not None
        plan.status = "completed"
        await db.commit()
    noted = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"home_care": "Walk daily"},
        headers=patch_headers(clinic, 1),
    )
    assert noted.status_code == 200, noted.text


async def test_measurements_of_a_goal_keep_the_session_in_the_goals_plan(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    measured = {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 6, "timing": "pre"}
    session = (await book(client, clinic, measurements=[measured])).json()
    url = f"/v1/sessions/{session['id']}"
    open_plan = await add_plan(sessionmaker, clinic.client_id)
    for plan_id in (open_plan, None):
        moved = await client.patch(
            url, json={"care_plan_id": plan_id}, headers=patch_headers(clinic, 1)
        )
        assert moved.status_code == 422, moved.text
        assert moved.json()["errors"][0]["loc"] == ["body", "measurements", 0, "goal_id"]
    kept = await client.get(url, headers=clinic.staff.headers("admin"))
    assert kept.json()["care_plan_id"] == str(clinic.plan_id)


async def test_screening_again_still_weighs_the_plans_referral(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    # the plan's referral is valid until 2026-06-30; a session on 1 July is warned about it,
    # and still is after its regions change (the plan itself did not)
    session = (await book(client, clinic, scheduled_start="2026-07-01T09:00:00Z")).json()
    assert "referral_expired" in {w["code"] for w in session["warnings"]}
    changed = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"body_regions": ["legs"]},
        headers=patch_headers(clinic, 1),
    )
    assert changed.status_code == 200, changed.text
    assert "referral_expired" in {w["code"] for w in changed.json()["warnings"]}


async def test_writing_the_note_does_not_screen_again(
    client: httpx.AsyncClient, clinic: Clinic, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # a local precaution recorded after booking, on a region of the session: only a change of
    # time, therapist, regions or type, or completing the session, is screened again
    session = (await book(client, clinic)).json()
    await add_precaution(
        sessionmaker, clinic, category="skin_condition", severity="local", body_regions=["hips"]
    )
    url = f"/v1/sessions/{session['id']}"
    noted = await client.patch(
        url, json={"home_care": "Rest the hip"}, headers=patch_headers(clinic, 1)
    )
    assert noted.status_code == 200, noted.text
    completed = await client.patch(
        url, json={"status": "completed"}, headers=patch_headers(clinic, 2)
    )
    assert completed.status_code == 409, completed.text
    assert completed.json()["type"] == "/problems/contraindicated"


async def test_a_booked_session_moves_into_the_future(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    session = (await book(client, clinic)).json()
    ahead = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=7)
    moved = await client.patch(
        f"/v1/sessions/{session['id']}",
        json={"scheduled_start": iso(ahead)},
        headers=patch_headers(clinic, 1, role="front_desk"),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "scheduled"


# ---- the front desk ----------------------------------------------------------------------------


async def test_front_desk_books_but_never_sees_or_writes_the_note(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    desk = clinic.staff.headers("front_desk")
    booked = await book(client, clinic, role="front_desk")
    assert booked.status_code == 201, booked.text
    sid = booked.json()["id"]
    done = await client.patch(
        f"/v1/sessions/{sid}",
        json=completion(),
        headers={**clinic.staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert done.status_code == 200
    seen = (await client.get(f"/v1/sessions/{sid}", headers=desk)).json()
    for hidden in (
        "soap",
        "measurements",
        "addenda",
        "adverse_event",
        "health_update",
        "home_care",
    ):
        assert hidden not in seen
    listed = (await client.get("/v1/sessions", headers=desk)).json()["items"][0]
    assert "soap" not in listed
    clinical = await book(
        client,
        clinic,
        role="front_desk",
        scheduled_start=iso(START + dt.timedelta(days=1)),
        soap={"subjective": "x"},
    )
    assert clinical.status_code == 403
    other = (
        await book(
            client, clinic, role="front_desk", scheduled_start=iso(START + dt.timedelta(days=2))
        )
    ).json()
    complete = await client.patch(
        f"/v1/sessions/{other['id']}",
        json={"status": "completed"},
        headers={**desk, "If-Match": '"1"'},
    )
    assert complete.status_code == 403
    no_show = await client.patch(
        f"/v1/sessions/{other['id']}",
        json={"status": "no_show"},
        headers={**desk, "If-Match": '"1"'},
    )
    assert no_show.status_code == 200


async def test_referrer_has_no_session_access(client: httpx.AsyncClient, clinic: Clinic) -> None:
    assert (await book(client, clinic, role="referrer")).status_code == 403
    headers = clinic.staff.headers("referrer")
    assert (await client.get("/v1/sessions", headers=headers)).status_code == 403


# ---- a fixed number of queries -----------------------------------------------------------------


async def test_session_list_queries_do_not_grow_with_sessions(
    client: httpx.AsyncClient, clinic: Clinic, connection: AsyncConnection
) -> None:
    admin = clinic.staff.headers("admin")

    async def count_queries() -> int:
        statements: list[str] = []

        def on_execute(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection.sync_engine, "before_cursor_execute", on_execute)
        try:
            response = await client.get(
                f"/v1/sessions?care_plan_id={clinic.plan_id}&limit=200", headers=admin
            )
            assert response.status_code == 200
        finally:
            event.remove(connection.sync_engine, "before_cursor_execute", on_execute)
        return len(statements)

    async def add_sessions(n: int, offset: int) -> None:
        for i in range(n):
            start = START + dt.timedelta(days=offset + i)
            created = await book(
                client,
                clinic,
                scheduled_start=iso(start),
                measurements=[
                    {"goal_id": str(clinic.goal_id), "measure": "nprs", "value": 5, "timing": "pre"}
                ],
            )
            assert created.status_code == 201, created.text

    await add_sessions(5, 0)
    with_five = await count_queries()
    await add_sessions(95, 10)
    with_hundred = await count_queries()
    assert with_five == with_hundred
