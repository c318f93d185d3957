"""Every resource and Bundle the facade serves for a realistic clinic validates against R4
(`fhir.resources` plus the stricter checks of `validation.py`), for every role that reads
clinical data — also after hostile strings were written straight into the database and after
records were archived — and nothing served points at a record the caller cannot read.
A referrer's crawl finds exactly what its summaries disclose."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client
from app.core.db import utcnow
from app.directory.models import ReferringProfessional, Therapist
from app.fhir import mapping
from app.referrals.models import Referral
from app.session_records.models import SessionRecord
from tests.fhir.conftest import START, FhirClinic
from tests.fhir.crawl import Crawl
from tests.fhir.test_search import grow
from tests.rows import measured_session

HOSTILE = ["\x01", " \t ", "\x1b", "\x7f", "\u0085", "\u00a0", "\ufeff", "\r\n"]


async def crawl(client: httpx.AsyncClient, clinic: FhirClinic, role: str, label: str) -> Crawl:
    return await Crawl(client, clinic.headers(role), label).run()


async def add_unsigned_session(rows: AsyncSession, clinic: FhirClinic) -> tuple[str, str]:
    """A completed but unsigned session of the shared plan, with a measurement."""
    session, measured = await measured_session(
        rows,
        client_id=clinic.client_id,
        care_plan_id=clinic.plan_id,
        therapist_id=clinic.therapist_id,
        goal_id=clinic.pain_goal_id,
        start=START + dt.timedelta(days=40),
        minutes=60,
        session_type="therapeutic",
        measure="nprs",
        value=2,
        timing="pre",
    )
    await rows.commit()
    return f"Encounter/{session.id}", f"Observation/{measured.id}"


async def add_unshared_plan(
    rows: AsyncSession, clinic: FhirClinic, referral_status: str
) -> dict[str, str]:
    """A second plan of the shared client, linked to another referral of the same referrer
    (in `referral_status`), with a goal and a signed session."""
    referral = Referral(
        client_id=clinic.client_id,
        referring_professional_id=clinic.referring_professional_id,
        received_on=dt.date(2030, 4, 1),
        reason="Filed by the referrer itself",
        diagnosis_codes=[],
        status=referral_status,
    )
    plan = CarePlan(
        client_id=clinic.client_id, title="Second plan", kind="therapeutic", status="active"
    )
    rows.add_all([referral, plan])
    await rows.flush()
    await rows.execute(
        care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
    )
    goal = Goal(care_plan_id=plan.id, description="Sleep", measure="psfs", status="active")
    rows.add(goal)
    await rows.flush()
    start = START + dt.timedelta(days=50)
    session, measured = await measured_session(
        rows,
        client_id=clinic.client_id,
        care_plan_id=plan.id,
        therapist_id=clinic.therapist_id,
        goal_id=goal.id,
        start=start,
        minutes=30,
        session_type="relaxation",
        measure="psfs",
        value=6,
        timing="post",
    )
    session.note_status = "signed"
    session.signed_at = start + dt.timedelta(hours=1)
    await rows.commit()
    return {
        "referral": f"ServiceRequest/{referral.id}",
        "plan": f"CarePlan/{plan.id}",
        "goal": f"Goal/{goal.id}",
        "session": f"Encounter/{session.id}",
        "measurement": f"Observation/{measured.id}",
    }


def shared_keys(clinic: FhirClinic) -> set[str]:
    return {
        f"Patient/{clinic.client_id}",
        f"ServiceRequest/{clinic.referral_id}",
        f"CarePlan/{clinic.plan_id}",
        f"Goal/{clinic.pain_goal_id}",
        f"Goal/{clinic.odi_goal_id}",
        f"Encounter/{clinic.sessions['completed']}",
        *(f"Observation/{row_id}" for row_id in clinic.measurements.values()),
    }


# ---- a referrer's view -------------------------------------------------------------------------


@pytest.mark.parametrize("own_status", ["pending", "declined", "cancelled"])
async def test_a_referrer_sees_exactly_what_its_summaries_disclose(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, own_status: str
) -> None:
    unsigned = await add_unsigned_session(rows, fhir_clinic)
    hidden = await add_unshared_plan(rows, fhir_clinic, own_status)
    seen = await crawl(client, fhir_clinic, "referrer", f"referrer-{own_status}")
    assert set(seen.resources) == shared_keys(fhir_clinic)
    patient = seen.resources[f"Patient/{fhir_clinic.client_id}"]
    assert set(patient) == {"resourceType", "id", "meta", "name", "birthDate"}
    plan = seen.resources[f"CarePlan/{fhir_clinic.plan_id}"]
    assert "note" not in plan
    # the plan lists only the encounters the referrer may read
    [sessions] = [a for a in plan["activity"] if "outcomeReference" in a]
    assert sessions["outcomeReference"] == [
        {"reference": f"Encounter/{fhir_clinic.sessions['completed']}"}
    ]
    assert "author" not in plan  # the therapist is no Practitioner the referrer may read
    for key in [*unsigned, *hidden.values(), f"Practitioner/{fhir_clinic.therapist_id}"]:
        response = await client.get(f"/fhir/R4/{key}", headers=fhir_clinic.headers("referrer"))
        assert response.status_code == 404, key
        # while the clinic sees them all
        response = await client.get(f"/fhir/R4/{key}", headers=fhir_clinic.headers("therapist"))
        assert response.status_code == 200, key


async def test_a_completed_referral_still_opens_the_record(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    referral = await rows.get(Referral, fhir_clinic.referral_id)
    assert referral is not None
    referral.status = "completed"
    await rows.commit()
    seen = await crawl(client, fhir_clinic, "referrer", "referrer-completed")
    assert set(seen.resources) == shared_keys(fhir_clinic)


@pytest.mark.parametrize("status", ["pending", "declined", "cancelled"])
async def test_a_referral_not_accepted_opens_nothing(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, status: str
) -> None:
    referral = await rows.get(Referral, fhir_clinic.referral_id)
    assert referral is not None
    referral.status = status
    await rows.commit()
    seen = await crawl(client, fhir_clinic, "referrer", f"referrer-{status}-only")
    assert seen.resources == {}
    for key in shared_keys(fhir_clinic):
        response = await client.get(f"/fhir/R4/{key}", headers=fhir_clinic.headers("referrer"))
        assert response.status_code == 404, key


# ---- archived records leave every answer -------------------------------------------------------


async def archive(rows: AsyncSession, model: Any, row_id: uuid.UUID) -> None:
    row = await rows.get(model, row_id)
    assert row is not None
    row.archived_at = utcnow()
    await rows.commit()


async def test_archived_records_leave_every_answer(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    await grow(rows, fhir_clinic, 3)
    unsigned_session, unsigned_measurement = await add_unsigned_session(rows, fhir_clinic)
    other_plan = await add_unshared_plan(rows, fhir_clinic, "accepted")
    archived = {
        f"Practitioner/{fhir_clinic.therapist_id}": (Therapist, fhir_clinic.therapist_id),
        f"Practitioner/{fhir_clinic.referring_professional_id}": (
            ReferringProfessional,
            fhir_clinic.referring_professional_id,
        ),
        f"Goal/{fhir_clinic.odi_goal_id}": (Goal, fhir_clinic.odi_goal_id),
        unsigned_session: (SessionRecord, uuid.UUID(unsigned_session.split("/")[1])),
        other_plan["plan"]: (CarePlan, uuid.UUID(other_plan["plan"].split("/")[1])),
        other_plan["referral"]: (Referral, uuid.UUID(other_plan["referral"].split("/")[1])),
    }
    before = await crawl(client, fhir_clinic, "admin", "admin-before-archive")
    assert set(archived) <= set(before.resources)
    for model, row_id in archived.values():
        await archive(rows, model, row_id)
    gone = {*archived, unsigned_measurement, other_plan["goal"]}
    for role in ("admin", "therapist"):
        after = await crawl(client, fhir_clinic, role, f"{role}-after-archive")
        assert not gone & set(after.resources), gone & set(after.resources)
        for key in gone:
            response = await client.get(f"/fhir/R4/{key}", headers=fhir_clinic.headers(role))
            assert response.status_code == 404, key
    # the Observations of the archived goal stay, without their focus
    odi = after.resources[f"Observation/{fhir_clinic.measurements['odi']}"]
    assert "focus" not in odi
    encounter = after.resources[f"Encounter/{fhir_clinic.sessions['completed']}"]
    assert "individual" not in encounter["participant"][0]

    # archiving the client takes all of its record out of every answer
    await archive(rows, Client, fhir_clinic.client_id)
    after = await crawl(client, fhir_clinic, "admin", "admin-after-client-archive")
    assert not [key for key, r in after.resources.items() if str(fhir_clinic.client_id) in str(r)]
    headers = fhir_clinic.headers("admin")
    for resource_type in ("CarePlan", "Encounter", "Observation"):
        query = f"/fhir/R4/{resource_type}?patient={fhir_clinic.client_id}"
        assert (await client.get(query, headers=headers)).json()["total"] == 0
    for key in shared_keys(fhir_clinic):
        assert (await client.get(f"/fhir/R4/{key}", headers=headers)).status_code == 404, key


# ---- hostile strings written straight into the database ----------------------------------------


async def write_hostile_strings(rows: AsyncSession, clinic: FhirClinic) -> None:
    person = await rows.get(Client, clinic.client_id)
    other = await rows.get(Client, clinic.other_client_id)
    therapist = await rows.get(Therapist, clinic.therapist_id)
    professional = await rows.get(ReferringProfessional, clinic.referring_professional_id)
    plan = await rows.get(CarePlan, clinic.plan_id)
    goal = await rows.get(Goal, clinic.pain_goal_id)
    odi = await rows.get(Goal, clinic.odi_goal_id)
    referral = await rows.get(Referral, clinic.referral_id)
    assert person is not None
    assert other is not None
    assert therapist is not None
    assert professional is not None
    assert plan is not None
    assert goal is not None
    assert odi is not None
    assert referral is not None
    person.given_name = "\x01Robin\x1f"
    person.family_name = " \t "
    person.email = "\u00a0"
    person.phone = "\x7f"
    person.address = "\ufeff"
    person.emergency_contact = {"name": " \x02 ", "phone": "\u0085", "relationship": "\x03"}
    other.given_name = other.family_name = "\x1b"
    therapist.full_name = "\t\n"
    therapist.credentials = ["\x04", " "]
    therapist.license_number = " "
    therapist.license_region = "\x05"
    professional.full_name = "\x06Dr. Pat\x07"
    professional.organization = "  "
    professional.registration_number = "\x08"
    plan.title = "\x1b[31m"
    plan.notes = " \x0b "
    plan.kind = "\x0c"
    plan.coordinated_care = [
        {
            "referring_professional_id": str(clinic.referring_professional_id),
            "discipline": "\x0e",
            "description": "\x0f",
        }
    ]
    goal.description = "  "
    goal.measure_label = "\x10 "
    odi.unit = "\x11"
    referral.reason = "\x12"
    referral.diagnosis_text = " "
    referral.precautions_note = "\x13"
    await rows.commit()


@pytest.mark.parametrize("role", ["admin", "therapist", "referrer", "front_desk"])
async def test_hostile_strings_never_reach_an_answer(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, role: str
) -> None:
    await write_hostile_strings(rows, fhir_clinic)
    if role == "front_desk":
        # the front desk reads demographics and directories only
        headers = fhir_clinic.headers(role)
        checker = Crawl(client, headers, "front-desk-hostile")
        await checker.search("Patient")
        for key in (
            f"Practitioner/{fhir_clinic.therapist_id}",
            f"Practitioner/{fhir_clinic.referring_professional_id}",
        ):
            checker.keep(await checker.get(f"/fhir/R4/{key}"))
        checker.dump()
        assert len(checker.resources) == 4
        return
    seen = await crawl(client, fhir_clinic, role, f"{role}-hostile")
    patient = seen.resources[f"Patient/{fhir_clinic.client_id}"]
    assert patient["name"][0]["text"] == "Robin"
    goal = seen.resources[f"Goal/{fhir_clinic.pain_goal_id}"]
    assert goal["description"]["text"] == "Numeric pain rating scale (0-10)"


@pytest.mark.parametrize("text", [*HOSTILE, "", "\x00", "\x0b\x0c"])
def test_fhir_strings_drop_what_r4_refuses(text: str) -> None:
    assert mapping.fhir_string(text) is None
    assert mapping.fhir_string(f"{text}Ada{text}") == "Ada"


def test_fhir_strings_keep_what_r4_allows() -> None:
    assert mapping.fhir_string("Line one\nline two\ttabbed\r\n") == "Line one\nline two\ttabbed"
    assert mapping.fhir_string("Łucja Wąsowska-Dvořák") == "Łucja Wąsowska-Dvořák"
    assert mapping.prune({"value": float("nan"), "unit": "kg"}) == {"unit": "kg"}


# ---- a realistic clinic ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "therapist", "referrer"])
async def test_every_answer_of_a_realistic_clinic_is_valid(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, role: str
) -> None:
    await grow(rows, fhir_clinic, 4)
    seen = await crawl(client, fhir_clinic, role, f"{role}-clinic")
    types = {resource["resourceType"] for resource in seen.resources.values()}
    expected = {"Patient", "ServiceRequest", "CarePlan", "Goal", "Encounter", "Observation"}
    if role != "referrer":
        expected.add("Practitioner")
    assert types == expected
    assert len(seen.bundles) > (3 if role == "referrer" else 8)
