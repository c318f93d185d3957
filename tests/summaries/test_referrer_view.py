"""What a referring clinician needs from a summary, as JSON, HTML and PDF: who treats, the
referral, the active precautions, who signed, clinically important change, names in any script,
and a footer that claims the client's consent only when a referrer reads under one."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.care_plans.models import CarePlan, care_plan_referrals
from app.clients.models import Client
from app.directory.models import ReferringProfessional, Therapist
from app.fhir import mapping
from app.referrals.models import Referral
from app.session_records.models import Addendum
from tests.summaries.conftest import (
    EPOCH,
    SummaryClinic,
    add_session,
    at,
    consent,
    grant,
    sign_notes,
)
from tests.summaries.test_reports import pdf_text

CONSENT_CLAIM = "shared with the client's consent"


async def report(
    client: httpx.AsyncClient,
    clinic: SummaryClinic,
    accept: str,
    *,
    role: str = "therapist",
    path: str | None = None,
) -> str:
    response = await client.get(
        path or f"/v1/care-plans/{clinic.plan_id}/summary",
        headers={**clinic.staff.headers(role), "Accept": accept},
    )
    assert response.status_code == 200, response.text
    if accept == "application/pdf":
        return pdf_text(response.content)
    return html.unescape(response.text)


async def test_therapist_referrals_and_precautions_in_json(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        headers=summary_clinic.staff.headers("admin"),
    )
    summary: dict[str, Any] = response.json()
    assert summary["therapist"] == {
        "id": str(summary_clinic.staff.therapist_id),
        "full_name": "Ada Kneading",
        "credentials": ["LMT"],
    }
    # sessions used: the completed, non-archived sessions of this client on the plans that
    # answer each referral. Own referral (this plan and an archived one without sessions):
    # s1, s2, s12 and the draft s11 = 4. Foreign referral (this plan and the second): 4 + s9.
    assert summary["referrals"] == [
        {
            "id": str(summary_clinic.referral_id),
            "referring_professional": {
                "id": str(summary_clinic.professional_id),
                "full_name": "Dr. Pat Physio",
                "discipline": "physical_therapy",
            },
            "reason": "Low back pain after lifting",
            "diagnosis_codes": ["M54.50"],
            "diagnosis_text": "Low back pain, unspecified",
            "authorized_sessions": 10,
            "sessions_used": 4,
            "valid_until": "2030-06-30",
        },
        {
            "id": str(summary_clinic.foreign_referral_id),
            "referring_professional": {
                "id": str(summary_clinic.foreign_professional_id),
                "full_name": "Dr. Someone Else",
                "discipline": "oncology",
            },
            "reason": None,
            "diagnosis_codes": [],
            "diagnosis_text": None,
            "authorized_sessions": None,
            "sessions_used": 5,
            "valid_until": None,
        },
    ]
    # active ones only, this client's only, without their description
    assert summary["precautions"] == [
        {
            "category": "dvt",
            "severity": "absolute",
            "body_regions": ["legs"],
            "cleared_on": "2030-02-01",
            "cleared_by": {
                "id": str(summary_clinic.foreign_professional_id),
                "full_name": "Dr. Someone Else",
                "discipline": "oncology",
            },
        },
        {
            "category": "skin_condition",
            "severity": "local",
            "body_regions": ["feet"],
            "cleared_on": None,
            "cleared_by": None,
        },
    ]
    referral = await client.get(
        f"/v1/referrals/{summary_clinic.referral_id}/summary",
        headers=summary_clinic.staff.headers("admin"),
    )
    (plan,) = referral.json()["care_plans"]
    assert plan["therapist"] == summary["therapist"]
    assert plan["precautions"] == summary["precautions"]


async def test_only_signed_notes_feed_the_summary(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    summary = (
        await client.get(
            f"/v1/care-plans/{summary_clinic.plan_id}/summary",
            headers=summary_clinic.staff.headers("admin"),
        )
    ).json()
    # the draft s11 (2030-04-08) is the newest completed session: counted, never read
    assert summary["sessions"]["awaiting_signature"] == 1
    assert summary["latest_assessment"] == "Pain reduced; hip flexion limited"
    assert "DRAFT-SECRET technique" not in summary["techniques"]
    assert all(e["description"] != "DRAFT-SECRET adverse" for e in summary["adverse_events"])
    nprs = next(m for m in summary["measures"] if m["measure"] == "nprs")
    assert all(not p["at"].startswith("2030-04-08") for p in nprs["points"])


@pytest.mark.parametrize("accept", ["text/html", "application/pdf"])
async def test_reports_show_what_a_referrer_needs(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, accept: str
) -> None:
    text = await report(client, summary_clinic, accept)
    for expected in (
        "Treating therapist: ",
        "Ada Kneading, LMT",
        "Dr. Pat Physio",
        "Low back pain after lifting",
        "M54.50 – Low back pain, unspecified",
        "4 of 10 authorised",
        "5 used (no limit set)",
        "2030-06-30",
        "DVT (deep vein thrombosis)",
        "Cleared by Dr. Someone Else on 2030-02-01",
        "Skin condition",
        "Awaiting signature",
        "Signed notes",
        # the measures named with scale and unit, once
        "Oswestry Disability Index (0–100 %)",
        "Numeric Pain Rating Scale (0–10 points)",
        "7 → 4 → 2 points",
        # the sentence on clinically important change
        "Changed by a clinically important amount: Pain below 3/10 (−3 points; MCID 2 points).",
        "Not (yet) a clinically important change: Keep ODI at 20 (−2 %; MCID 10 %).",
    ):
        assert expected in text, expected
    for wrong in ("% (%)", "->", "Dvt", "Recent surgery", "PRECAUTION-SECRET", "Cancer"):
        assert wrong not in text, wrong


async def test_html_report_marks_the_mcid_band_and_the_signatures(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    page = await report(client, summary_clinic, "text/html")
    # a band on the charts of goals with a baseline and an MCID: pain, sleep (PSFS), ODI
    assert page.count('<rect class="mcid-band"') == 3
    assert "MCID 2 points from baseline" in page
    assert "MCID 10 % from baseline" in page
    # s1, s2 and s12 signed by the therapist; s1 corrected by two addenda
    rows = [
        row
        for row in page.split("<tr>")
        if "Ada Kneading</td>" in row and "2030-06-01 12:00 UTC" in row
    ]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == [
        "2030-03-04",
        "2030-03-11",
        "2030-03-14",
    ]
    assert '<td class="num">2</td>' in rows[0]
    assert '<td class="num">0</td>' in rows[1]


async def test_pdf_report_draws_the_mcid_band_and_lists_the_signatures(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    text = await report(client, summary_clinic, "application/pdf")
    assert text.count("from baseline") == 3  # the legends of the three bands
    assert "2030-03-04 Ada Kneading 2030-06-01 12:00 UTC 2" in text
    assert "2030-03-11 Ada Kneading 2030-06-01 12:00 UTC 0" in text


@pytest.mark.parametrize("accept", ["text/html", "application/pdf"])
async def test_the_consent_claim_only_for_a_referrer(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    accept: str,
) -> None:
    for role in ("admin", "therapist"):
        text = await report(client, summary_clinic, accept, role=role)
        assert CONSENT_CLAIM not in text, role
        assert "Confidential: for the care of this client only." in text
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    for path in (
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        f"/v1/referrals/{summary_clinic.referral_id}/summary",
    ):
        text = await report(client, summary_clinic, accept, role="referrer", path=path)
        assert f"Confidential: {CONSENT_CLAIM}, for the care of this client only." in text


@pytest.mark.parametrize("accept", ["text/html", "application/pdf"])
async def test_a_plan_without_dates_shows_no_empty_period(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, accept: str
) -> None:
    text = await report(
        client,
        summary_clinic,
        accept,
        path=f"/v1/care-plans/{summary_clinic.second_plan_id}/summary",
    )
    assert "Therapeutic plan · status active" in text
    assert "period" not in text
    assert "to –" not in text
    assert "No primary therapist named" in text
    full = await report(client, summary_clinic, accept)
    assert "period 2030-03-01 to 2030-06-30" in full


NAMES = {
    "Polish": ("Łucja", "Wąsowska-Dvořák"),
    "Czech": ("Přemysl", "Šťastný"),
    "German": ("Jürgen", "Groß"),
    "Greek": ("Αλέξανδρος", "Παπαδόπουλος"),
    "Cyrillic": ("Анна", "Кузнецова"),
}


async def test_pdf_prints_names_in_every_script(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        robin = await db.get(Client, summary_clinic.client_id)
        therapist = await db.get(Therapist, summary_clinic.staff.therapist_id)
        physio = await db.get(ReferringProfessional, summary_clinic.professional_id)
        foreign = await db.get(ReferringProfessional, summary_clinic.foreign_professional_id)
        assert robin is not None
        assert therapist is not None
        assert physio is not None
        assert foreign is not None
        robin.given_name, robin.family_name = NAMES["Polish"]
        therapist.full_name = " ".join(NAMES["Czech"])
        physio.full_name = " ".join(NAMES["German"])
        foreign.full_name = " ".join(NAMES["Greek"])
        therapist.credentials = [" ".join(NAMES["Cyrillic"])]
        await db.commit()
    page = await report(client, summary_clinic, "text/html")
    pdf = await report(client, summary_clinic, "application/pdf")
    for given, family in NAMES.values():
        name = f"{given} {family}"
        assert name in page, name
        assert name in pdf, name
    assert "Lucja" not in pdf
    assert "Wasowska" not in pdf


def test_certifications_say_massage_once() -> None:
    assert mapping.certification_text("medical_massage") == "Medical massage certification"
    assert mapping.certification_text("prenatal") == "Prenatal massage certification"
    assert mapping.certification_text("lymphatic_drainage") == (
        "Lymphatic drainage massage certification"
    )


async def test_goal_mcid_through_the_api(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    therapist = summary_clinic.staff.headers("therapist")
    path = f"/v1/care-plans/{summary_clinic.plan_id}/goals"
    base = {"description": "Knee flexion to 130", "measure": "rom", "baseline_value": 100}
    for bad in (0, -5, "a lot", 1001):
        response = await client.post(path, json={**base, "mcid": bad}, headers=therapist)
        assert response.status_code == 422, (bad, response.text)
    made = await client.post(path, json={**base, "target_value": 130, "mcid": 8}, headers=therapist)
    assert made.status_code == 201, made.text
    goal = made.json()
    assert (goal["mcid"], goal["unit"]) == (8, "degrees")
    patched = await client.patch(
        f"/v1/goals/{goal['id']}", json={"mcid": 12}, headers={**therapist, "If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["mcid"] == 12
    summary = (
        await client.get(f"/v1/care-plans/{summary_clinic.plan_id}/summary", headers=therapist)
    ).json()
    (knee,) = [g for g in summary["goals"] if g["id"] == goal["id"]]
    assert knee["minimal_important_change"] == 12


async def test_api_summary_and_fhir_give_a_goal_one_unit(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    therapist = summary_clinic.staff.headers("therapist")
    for measure, target, unit in (("nprs", 2, "points"), ("odi", 20, "%"), ("rom", 120, "degrees")):
        made = await client.post(
            f"/v1/care-plans/{summary_clinic.plan_id}/goals",
            json={"description": f"{measure} goal", "measure": measure, "target_value": target},
            headers=therapist,
        )
        assert made.status_code == 201, made.text
        goal = made.json()
        fhir = await client.get(f"/fhir/R4/Goal/{goal['id']}", headers=therapist)
        assert fhir.status_code == 200, fhir.text
        quantity = fhir.json()["target"][0]["detailQuantity"]
        summary = (
            await client.get(f"/v1/care-plans/{summary_clinic.plan_id}/summary", headers=therapist)
        ).json()
        (listed,) = [g for g in summary["goals"] if g["id"] == goal["id"]]
        assert goal["unit"] == quantity["unit"] == listed["unit"] == unit, measure


async def test_referrals_by_receipt_each_with_the_sessions_it_used(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A third plan answering the own referral and two later-created referrals received on
    one earlier day (created in the order opposite to their ids), plus an archived one."""
    clinic = summary_clinic
    received = dt.date(2030, 1, 5)

    def referral(id_: str, created_at: dt.datetime, **values: Any) -> Referral:
        return Referral(
            id=uuid.UUID(id_),
            client_id=clinic.client_id,
            referring_professional_id=clinic.professional_id,
            received_on=values.pop("received_on", received),
            status="accepted",
            created_at=created_at,
            **values,
        )

    async with sessionmaker() as db:
        plan = CarePlan(
            client_id=clinic.client_id, title="Neck care", kind="therapeutic", status="active"
        )
        first = referral("ffffffff-ffff-4fff-bfff-ffffffffffff", EPOCH, authorized_sessions=6)
        second = referral("00000000-0000-4000-8000-0000000000aa", EPOCH + dt.timedelta(minutes=1))
        archived = referral(
            "00000000-0000-4000-8000-0000000000bb",
            EPOCH,
            received_on=dt.date(2030, 1, 1),
            archived_at=EPOCH,
        )
        db.add_all([plan, first, second, archived])
        await db.flush()
        await db.execute(
            care_plan_referrals.insert(),
            [
                {"care_plan_id": plan.id, "referral_id": r}
                for r in (clinic.referral_id, first.id, second.id, archived.id)
            ],
        )
        await db.commit()
        plan_id = plan.id
    response = await client.get(
        f"/v1/care-plans/{plan_id}/summary", headers=clinic.staff.headers("admin")
    )
    assert response.status_code == 200, response.text
    listed = [
        (r["id"], r["authorized_sessions"], r["sessions_used"])
        for r in response.json()["referrals"]
    ]
    # the new plan has no sessions: the own referral keeps the 4 of the first plan
    assert listed == [
        ("ffffffff-ffff-4fff-bfff-ffffffffffff", 6, 0),
        ("00000000-0000-4000-8000-0000000000aa", None, 0),
        (str(clinic.referral_id), 10, 4),
    ]


async def test_a_plan_whose_scheduled_sessions_are_past_has_none_upcoming(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        add_session(
            db,
            client_id=summary_clinic.client_id,
            therapist_id=summary_clinic.staff.therapist_id,
            plan_id=summary_clinic.second_plan_id,
            start=at("2020-02-03"),
            status="scheduled",
        )
        await db.commit()
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.second_plan_id}/summary",
        headers=summary_clinic.staff.headers("admin"),
    )
    sessions = response.json()["sessions"]
    assert (sessions["completed"], sessions["upcoming"]) == (1, 0)


async def test_a_note_signed_by_a_user_names_the_user(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        user = User(
            email="lee@example.org",
            password_hash="-",
            display_name="Lee Supervisor",
            role="admin",
        )
        db.add(user)
        await db.flush()
        add_session(
            db,
            client_id=summary_clinic.client_id,
            therapist_id=summary_clinic.staff.therapist_id,
            plan_id=summary_clinic.plan_id,
            start=at("2030-04-15"),
        )
        await sign_notes(db, user.id)
        # and a second note corrected once: each note counts its own addenda
        db.add(
            Addendum(
                session_id=summary_clinic.sessions["s2"],
                author_type="user",
                author_id=user.id,
                text="Correction",
                reason="Typo",
            )
        )
        await db.commit()
    page = await report(client, summary_clinic, "text/html")
    cells = {
        row.split("<td>")[1].split("</td>")[0]: row
        for row in page.split("<tr>")
        if "2030-06-01 12:00 UTC" in row
    }
    assert "<td>Lee Supervisor</td>" in cells["2030-04-15"]
    assert '<td class="num">2</td>' in cells["2030-03-04"]
    assert '<td class="num">1</td>' in cells["2030-03-11"]
