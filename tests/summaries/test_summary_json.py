"""The JSON summaries, checked against numbers computed by hand from the seeded clinic."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Consent
from app.session_records import service as sessions_service
from tests.summaries.conftest import SECRETS, SummaryClinic, at, iso

CARE_PLAN_KEYS = {
    "care_plan_id",
    "title",
    "kind",
    "status",
    "client",
    "therapist",
    "referrals",
    "precautions",
    "period",
    "sessions",
    "goals",
    "measures",
    "techniques",
    "latest_assessment",
    "latest_plan",
    "adverse_events",
    "generated_at",
}
GOAL_KEYS = {
    "id",
    "description",
    "measure",
    "unit",
    "baseline_value",
    "target_value",
    "latest_value",
    "latest_at",
    "progress_percent",
    "minimal_important_change",
    "clinically_important",
    "lasting_change",
    "immediate_change",
    "status",
}


async def plan_summary(
    client: httpx.AsyncClient, clinic: SummaryClinic, role: str = "therapist"
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/care-plans/{clinic.plan_id}/summary", headers=clinic.staff.headers(role)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def goal_of(summary: dict[str, Any], clinic: SummaryClinic, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        g for g in summary["goals"] if g["id"] == str(clinic.goals[name])
    ]
    assert len(found) == 1
    return found[0]


async def test_summary_has_exactly_the_contract_fields(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    summary = await plan_summary(client, summary_clinic)
    assert set(summary) == CARE_PLAN_KEYS
    assert summary["care_plan_id"] == str(summary_clinic.plan_id)
    assert summary["title"] == "Low back rehabilitation"
    assert summary["kind"] == "rehabilitation"
    assert summary["status"] == "active"
    assert summary["client"] == {
        "id": str(summary_clinic.client_id),
        "given_name": "Robin",
        "family_name": "Okafor",
        "date_of_birth": "1980-05-17",
    }
    assert summary["period"] == {"start": "2030-03-01", "end": "2030-06-30"}
    assert all(set(goal) == GOAL_KEYS for goal in summary["goals"])
    generated = dt.datetime.fromisoformat(summary["generated_at"])
    assert summary["generated_at"].endswith("Z")
    assert abs(generated - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


async def test_session_counts(client: httpx.AsyncClient, summary_clinic: SummaryClinic) -> None:
    summary = await plan_summary(client, summary_clinic)
    # completed: s1, s2, s12 and the draft s11 (s4 is archived, s8 another client's); upcoming:
    # s6 only (s7 is scheduled but in the past); awaiting signature: s11
    assert summary["sessions"] == {
        "planned": 10,
        "completed": 4,
        "cancelled": 1,
        "no_show": 1,
        "upcoming": 1,
        "awaiting_signature": 1,
    }


async def test_goal_progress_computed_by_hand(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    summary = await plan_summary(client, summary_clinic)
    s2 = iso(at("2030-03-11"))
    # in the order the goals were set; the archived goal is left out
    assert [g["description"] for g in summary["goals"]] == [
        "Pain below 3/10",
        "Walk 4 km",
        "Hip flexion to 120",
        "Sleep through the night",
        "Sit for an hour",
        "Keep ODI at 20",
    ]
    pain = goal_of(summary, summary_clinic, "pain")
    # s2 recorded post 4 before pre 5: post comes after pre, so 4 is the latest;
    # the cancelled (0), archived (1) and other client's (0) values are ignored.
    # 100 × (4 − 7) / (2 − 7) = 60
    assert pain["latest_value"] == 4
    assert pain["latest_at"] == s2
    assert pain["progress_percent"] == 60.0
    assert pain["baseline_value"] == 7
    assert pain["target_value"] == 2
    assert pain["measure"] == "nprs"
    assert pain["unit"] == "points"  # the measure's, as the goals API and FHIR say
    assert pain["status"] == "active"
    # the draft s11 (pre 1, post 0) feeds nothing. NPRS: MCID 2, lower is better;
    # baseline 7 → latest 4 is −3: clinically important. Pre values 7 (s1), 5 (s2): lasting
    # 5 − 7 = −2. Post − pre: s1 6 − 7 = −1, s2 4 − 5 = −1: immediate −1.
    assert (
        pain["minimal_important_change"],
        pain["clinically_important"],
        pain["lasting_change"],
        pain["immediate_change"],
    ) == (2, True, -2, -1)

    walk = goal_of(summary, summary_clinic, "walk")
    # 100 × (0.13 − 0) / (4 − 0) = 3.25 → 3.3 (halves round away from zero)
    assert (walk["latest_value"], walk["latest_at"], walk["progress_percent"]) == (0.13, s2, 3.3)
    assert walk["unit"] == "km"
    # custom without its own mcid; one pre value (s2) and no session with both: nothing
    assert (
        walk["minimal_important_change"],
        walk["clinically_important"],
        walk["lasting_change"],
        walk["immediate_change"],
    ) == (None, None, None, None)

    hip = goal_of(summary, summary_clinic, "hip")
    # moved away from the target: 100 × (85 − 90) / (120 − 90) = −16.666… → −16.7
    assert (hip["latest_value"], hip["latest_at"], hip["progress_percent"]) == (85, s2, -16.7)
    assert hip["unit"] == "degrees"
    assert (hip["minimal_important_change"], hip["clinically_important"]) == (None, None)

    sleep = goal_of(summary, summary_clinic, "sleep")
    assert (sleep["latest_value"], sleep["latest_at"], sleep["progress_percent"]) == (
        None,
        None,
        None,
    )
    sit = goal_of(summary, summary_clinic, "sit")  # no baseline
    assert (sit["latest_value"], sit["baseline_value"], sit["progress_percent"]) == (30, None, None)
    odi = goal_of(summary, summary_clinic, "odi")  # target equals baseline
    assert (odi["latest_value"], odi["progress_percent"]) == (18, None)
    # ODI: lower is better, MCID 10; 20 → 18 is an improvement, not an important one
    assert (odi["unit"], odi["minimal_important_change"], odi["clinically_important"]) == (
        "%",
        10,
        False,
    )
    # PSFS without a measurement: its MCID, nothing else
    assert (
        sleep["minimal_important_change"],
        sleep["clinically_important"],
        sleep["lasting_change"],
        sleep["immediate_change"],
    ) == (2, None, None, None)


async def test_measures_grouped_and_ordered(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    summary = await plan_summary(client, summary_clinic)
    s1, s2 = iso(at("2030-03-04")), iso(at("2030-03-11"))
    # by session time, pre before post within a session, then as recorded; each measure in the
    # order it was first recorded; the unlinked nprs value of s2 is a point too
    assert summary["measures"] == [
        {
            "measure": "nprs",
            "points": [
                {"at": s1, "value": 7, "timing": "pre"},
                {"at": s1, "value": 6, "timing": "post"},
                {"at": s2, "value": 5, "timing": "pre"},
                {"at": s2, "value": 6, "timing": "pre"},
                {"at": s2, "value": 4, "timing": "post"},
            ],
        },
        {
            "measure": "rom",
            "points": [
                {"at": s1, "value": 88, "timing": "pre"},
                {"at": s2, "value": 85, "timing": "post"},
            ],
        },
        {
            "measure": "custom",
            "points": [
                {"at": s1, "value": 0.05, "timing": "post"},
                {"at": s2, "value": 0.13, "timing": "pre"},
                {"at": s2, "value": 30, "timing": "pre"},
            ],
        },
        {"measure": "odi", "points": [{"at": s2, "value": 18, "timing": "pre"}]},
    ]


async def test_techniques_notes_and_adverse_events(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    summary = await plan_summary(client, summary_clinic)
    # sessions using each technique (s2 lists one twice: one session); most used first
    assert summary["techniques"] == {
        "myofascial release": 2,
        "stretching": 1,
        "trigger point": 1,
    }
    assert list(summary["techniques"]) == ["myofascial release", "stretching", "trigger point"]
    # s12 is the newest completed session but its assessment and plan are blank; s2 has no plan
    assert summary["latest_assessment"] == "Pain reduced; hip flexion limited"
    assert summary["latest_plan"] == "Continue weekly; add hip work"
    # s2's blank adverse event, the cancelled, archived and other client's are not events
    assert summary["adverse_events"] == [
        {
            "session_id": str(summary_clinic.sessions["s1"]),
            "date": "2030-03-04",
            "description": "Mild soreness for a day",
        }
    ]


async def test_minimum_necessary_in_json(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    # the foreign referral's summary includes the second plan, whose notes are its own
    second_plan = {"OTHER-PLAN-SECRET"}
    for path, shown in (
        (f"/v1/care-plans/{summary_clinic.plan_id}/summary", set()),
        (f"/v1/referrals/{summary_clinic.referral_id}/summary", set()),
        (f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary", second_plan),
    ):
        response = await client.get(path, headers=summary_clinic.staff.headers("admin"))
        assert response.status_code == 200
        for secret in set(SECRETS) - shown:
            assert secret not in response.text, (path, secret)
        for field in ("subjective", "objective", "health_update", "home_care", "soap"):
            assert field not in response.text


async def test_plan_without_sessions_or_goals(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.second_plan_id}/summary",
        headers=summary_clinic.staff.headers("admin"),
    )
    assert response.status_code == 200
    summary = response.json()
    assert summary["sessions"] == {
        "planned": None,
        "completed": 1,
        "cancelled": 0,
        "no_show": 0,
        "upcoming": 0,
        "awaiting_signature": 0,
    }
    assert summary["goals"] == []
    assert summary["therapist"] is None
    assert summary["period"] == {"start": None, "end": None}
    assert summary["measures"] == [
        {"measure": "nprs", "points": [{"at": iso(at("2030-03-15")), "value": 9, "timing": "pre"}]}
    ]
    assert summary["latest_plan"] is None
    assert summary["adverse_events"] == []


async def test_referral_summary_lists_its_non_archived_plans(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    admin = summary_clinic.staff.headers("admin")
    own = (
        await client.get(f"/v1/referrals/{summary_clinic.referral_id}/summary", headers=admin)
    ).json()
    assert set(own) == {"referral_id", "referring_professional_id", "client", "care_plans"}
    assert own["referral_id"] == str(summary_clinic.referral_id)
    assert own["referring_professional_id"] == str(summary_clinic.professional_id)
    assert own["client"]["given_name"] == "Robin"
    # the archived plan is linked to this referral too, but left out
    assert [p["care_plan_id"] for p in own["care_plans"]] == [str(summary_clinic.plan_id)]
    plan = await plan_summary(client, summary_clinic, "admin")
    listed = own["care_plans"][0]
    assert {k: v for k, v in listed.items() if k != "generated_at"} == {
        k: v for k, v in plan.items() if k != "generated_at"
    }

    foreign = (
        await client.get(
            f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary", headers=admin
        )
    ).json()
    assert [p["care_plan_id"] for p in foreign["care_plans"]] == [
        str(summary_clinic.plan_id),
        str(summary_clinic.second_plan_id),
    ]


async def test_each_plan_of_a_referral_counts_its_own_sessions(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    foreign = (
        await client.get(
            f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary",
            headers=summary_clinic.staff.headers("admin"),
        )
    ).json()
    # the plan's counts as in test_session_counts; the second plan has only s9, completed
    assert [p["sessions"] for p in foreign["care_plans"]] == [
        {
            "planned": 10,
            "completed": 4,
            "cancelled": 1,
            "no_show": 1,
            "upcoming": 1,
            "awaiting_signature": 1,
        },
        {
            "planned": None,
            "completed": 1,
            "cancelled": 0,
            "no_show": 0,
            "upcoming": 0,
            "awaiting_signature": 0,
        },
    ]


async def test_referral_without_plans(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    admin = summary_clinic.staff.headers("admin")
    created = await client.post(
        "/v1/referrals",
        json={
            "client_id": str(summary_clinic.client_id),
            "referring_professional_id": str(summary_clinic.professional_id),
            "received_on": "2030-02-01",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    response = await client.get(f"/v1/referrals/{created.json()['id']}/summary", headers=admin)
    assert response.status_code == 200
    assert response.json()["care_plans"] == []


@pytest.mark.parametrize("kind", ["care-plans", "referrals"])
async def test_unknown_archived_and_malformed_ids(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, kind: str
) -> None:
    admin = summary_clinic.staff.headers("admin")
    missing = await client.get(
        f"/v1/{kind}/00000000-0000-4000-8000-000000000000/summary", headers=admin
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "/problems/not-found"
    malformed = await client.get(f"/v1/{kind}/not-a-uuid/summary", headers=admin)
    assert malformed.status_code == 422
    assert malformed.json()["type"] == "/problems/validation-error"


async def test_archived_plan_and_referral_are_not_found(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    admin = summary_clinic.staff.headers("admin")
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.archived_plan_id}/summary", headers=admin
    )
    assert response.status_code == 404
    archived = await client.delete(f"/v1/referrals/{summary_clinic.referral_id}", headers=admin)
    assert archived.status_code == 204
    response = await client.get(
        f"/v1/referrals/{summary_clinic.referral_id}/summary", headers=admin
    )
    assert response.status_code == 404


async def test_a_newer_measurement_through_the_api_moves_the_progress(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end: a session completed through the API counts at once. It is recorded the
    day after it took place (a session is completed only once it has begun), by a client who
    gave treatment consent."""
    monkeypatch.setattr(sessions_service, "utcnow", lambda: dt.datetime(2030, 3, 22, tzinfo=dt.UTC))
    async with sessionmaker() as db:
        db.add(
            Consent(
                client_id=summary_clinic.client_id,
                kind="treatment",
                granted_on=dt.date(2026, 1, 1),
            )
        )
        await db.commit()
    therapist = summary_clinic.staff.headers("therapist")
    created = await client.post(
        "/v1/sessions",
        json={
            "client_id": str(summary_clinic.client_id),
            "care_plan_id": str(summary_clinic.plan_id),
            "therapist_id": str(summary_clinic.staff.therapist_id),
            "scheduled_start": "2030-03-21T10:00:00Z",
            "duration_minutes": 45,
            "session_type": "therapeutic",
            "status": "completed",
            "techniques": ["stretching"],
            "measurements": [
                {
                    "goal_id": str(summary_clinic.goals["pain"]),
                    "measure": "nprs",
                    "value": 1,
                    "timing": "post",
                },
                {
                    "goal_id": str(summary_clinic.goals["pain"]),
                    "measure": "nprs",
                    "value": 3,
                    "timing": "pre",
                },
            ],
        },
        headers=therapist,
    )
    assert created.status_code == 201, created.text
    # a draft note is counted as awaiting signature and feeds nothing yet
    summary = await plan_summary(client, summary_clinic)
    pain = goal_of(summary, summary_clinic, "pain")
    assert (pain["latest_value"], pain["progress_percent"]) == (4, 60.0)
    assert summary["sessions"]["completed"] == 5
    assert summary["sessions"]["awaiting_signature"] == 2
    assert summary["techniques"]["stretching"] == 1

    signed = await client.post(f"/v1/sessions/{created.json()['id']}/sign", headers=therapist)
    assert signed.status_code == 200, signed.text
    summary = await plan_summary(client, summary_clinic)
    pain = goal_of(summary, summary_clinic, "pain")
    # 100 × (1 − 7) / (2 − 7) = 120: past the target
    assert (pain["latest_value"], pain["progress_percent"]) == (1, 120.0)
    assert pain["latest_at"] == "2030-03-21T10:00:00Z"
    assert summary["sessions"]["completed"] == 5
    assert summary["sessions"]["awaiting_signature"] == 1
    assert summary["techniques"]["stretching"] == 2
