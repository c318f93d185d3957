"""Reading each resource type of the facade: valid R4, the fields mapped from our rows, every
status mapped, and 404 for what does not exist."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal
from app.care_plans.schemas import CarePlanStatus, GoalStatus
from app.clients.models import Client
from app.core.db import utcnow
from app.directory.models import Therapist
from app.referrals.models import Referral
from app.referrals.schemas import ReferralStatus
from app.session_records.models import Measurement, SessionRecord
from app.session_records.schemas import SessionStatus
from tests.fhir.conftest import FhirClinic
from tests.fhir.validation import validate

FHIR_JSON = "application/fhir+json"
PAIN_LOINC = {
    "system": "http://loinc.org",
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}


async def read(
    client: httpx.AsyncClient, clinic: FhirClinic, path: str, role: str = "therapist"
) -> dict[str, Any]:
    response = await client.get(f"/fhir/R4/{path}", headers=clinic.headers(role))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = response.json()
    validate(body)
    assert path.startswith(f"{body['resourceType']}/")
    assert body["id"] == path.split("/")[1]
    return body


async def test_patient(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    response = await client.get(
        f"/fhir/R4/Patient/{fhir_clinic.client_id}", headers=fhir_clinic.headers("admin")
    )
    assert response.headers["etag"] == 'W/"1"'
    patient = response.json()
    validate(patient)
    assert patient["meta"]["versionId"] == "1"
    assert patient["active"] is True
    assert patient["name"] == [
        {"use": "official", "text": "Robin Okafor", "family": "Okafor", "given": ["Robin"]}
    ]
    assert patient["birthDate"] == "1985-04-12"
    assert patient["telecom"] == [
        {"system": "phone", "value": "+1 555 0100"},
        {"system": "email", "value": "robin@example.org"},
    ]
    assert patient["address"] == [{"text": "12 Elm Street, Springfield"}]
    [contact] = patient["contact"]
    assert contact["name"] == {"text": "Alex Okafor"}
    assert contact["telecom"] == [{"system": "phone", "value": "+1 555 0101"}]
    assert contact["relationship"][0]["coding"][0]["code"] == "C"
    assert contact["relationship"][1] == {"text": "partner"}
    assert "notes" not in patient


async def test_practitioner_is_a_therapist(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    practitioner = await read(client, fhir_clinic, f"Practitioner/{fhir_clinic.therapist_id}")
    assert practitioner["name"] == [{"use": "official", "text": "Ada Kneading"}]
    [license_id] = practitioner["identifier"]
    assert license_id["value"] == "MT-4242"
    assert license_id["type"]["coding"][0]["code"] == "LN"
    assert license_id["period"] == {"end": "2031-12-31"}
    assert license_id["assigner"] == {"display": "Ontario"}
    texts = [q["code"]["text"] for q in practitioner["qualification"]]
    assert texts == [
        "Massage therapy license",
        "RMT",
        "Prenatal massage certification",
        "Lymphatic drainage massage certification",
    ]
    assert practitioner["qualification"][0]["identifier"] == [license_id]
    assert {"system": "email", "value": "ada@clinic.example"} in practitioner["telecom"]


async def test_practitioner_is_a_referring_professional(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    practitioner = await read(
        client, fhir_clinic, f"Practitioner/{fhir_clinic.referring_professional_id}"
    )
    assert practitioner["name"] == [{"use": "official", "text": "Dr. Pat Physio"}]
    [registration] = practitioner["identifier"]
    assert registration["value"] == "PT-778"
    assert registration["type"]["coding"][0]["code"] == "PRN"
    [qualification] = practitioner["qualification"]
    assert qualification["code"] == {"text": "Physical therapy"}
    assert qualification["issuer"] == {"display": "Riverside Physio"}
    assert {"system": "fax", "value": "+1 555 0201"} in practitioner["telecom"]


async def test_service_request(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    request = await read(client, fhir_clinic, f"ServiceRequest/{fhir_clinic.referral_id}")
    assert request["status"] == "active"
    assert request["intent"] == "order"
    assert request["subject"] == {"reference": f"Patient/{fhir_clinic.client_id}"}
    assert request["requester"] == {
        "reference": f"Practitioner/{fhir_clinic.referring_professional_id}"
    }
    assert request["reasonCode"] == [
        {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M54.5"}],
            "text": "Low back pain",
        }
    ]
    assert request["authoredOn"] == "2030-01-10"
    assert request["occurrencePeriod"] == {"start": "2030-01-10", "end": "2030-06-30"}
    assert request["quantityQuantity"]["value"] == 6
    assert {"text": "Chronic low back pain"} in request["note"]


async def test_care_plan(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    plan = await read(client, fhir_clinic, f"CarePlan/{fhir_clinic.plan_id}")
    assert plan["status"] == "active"
    assert plan["intent"] == "plan"
    assert plan["title"] == "Low back rehabilitation"
    assert plan["category"] == [{"text": "rehabilitation"}]
    assert plan["subject"] == {"reference": f"Patient/{fhir_clinic.client_id}"}
    assert plan["period"] == {"start": "2030-03-01", "end": "2030-05-31"}
    assert plan["author"] == {"reference": f"Practitioner/{fhir_clinic.therapist_id}"}
    assert plan["supportingInfo"] == [{"reference": f"ServiceRequest/{fhir_clinic.referral_id}"}]
    assert plan["goal"] == [
        {"reference": f"Goal/{fhir_clinic.pain_goal_id}"},
        {"reference": f"Goal/{fhir_clinic.odi_goal_id}"},
    ]
    sessions, coordinated = plan["activity"]
    assert sessions["outcomeReference"] == [
        {"reference": f"Encounter/{fhir_clinic.sessions[status]}"}
        for status in ("completed", "scheduled", "cancelled", "no_show")
    ]
    assert sessions["detail"]["status"] == "in-progress"
    assert sessions["detail"]["scheduledTiming"]["repeat"] == {
        "count": 6,
        "boundsPeriod": {"start": "2030-03-01", "end": "2030-05-31"},
        "frequency": 3,
        "period": 2,
        "periodUnit": "wk",
    }
    assert coordinated["detail"]["performer"] == [
        {"reference": f"Practitioner/{fhir_clinic.referring_professional_id}"}
    ]
    assert coordinated["detail"]["description"] == "Physical therapy twice a week"
    assert plan["note"] == [{"text": "Coordinate with the physiotherapist"}]


async def test_care_plan_leaves_out_archived_goals_and_sessions(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    goal = await rows.get(Goal, fhir_clinic.odi_goal_id)
    session = await rows.get(SessionRecord, fhir_clinic.sessions["cancelled"])
    assert goal is not None
    assert session is not None
    goal.archived_at = session.archived_at = utcnow()
    await rows.commit()
    plan = await read(client, fhir_clinic, f"CarePlan/{fhir_clinic.plan_id}")
    assert plan["goal"] == [{"reference": f"Goal/{fhir_clinic.pain_goal_id}"}]
    assert {"reference": f"Encounter/{session.id}"} not in plan["activity"][0]["outcomeReference"]
    assert len(plan["activity"][0]["outcomeReference"]) == 3


async def test_goal(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    goal = await read(client, fhir_clinic, f"Goal/{fhir_clinic.pain_goal_id}")
    assert goal["lifecycleStatus"] == "active"
    assert goal["achievementStatus"]["coding"][0]["code"] == "in-progress"
    assert goal["description"] == {"text": "Pain below 3/10"}
    assert goal["subject"] == {"reference": f"Patient/{fhir_clinic.client_id}"}
    [target] = goal["target"]
    assert target["measure"]["coding"] == [PAIN_LOINC]
    assert target["detailQuantity"]["value"] == 2
    assert target["dueDate"] == "2030-05-31"
    assert goal["outcomeReference"] == [
        {"reference": f"Observation/{fhir_clinic.measurements['pain_pre']}"},
        {"reference": f"Observation/{fhir_clinic.measurements['pain_post']}"},
    ]
    assert goal["note"] == [{"text": "Baseline: 7"}]


async def test_encounter(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    encounter = await read(client, fhir_clinic, f"Encounter/{fhir_clinic.sessions['completed']}")
    assert encounter["status"] == "finished"
    assert encounter["class"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "AMB",
        "display": "ambulatory",
    }
    assert encounter["subject"] == {"reference": f"Patient/{fhir_clinic.client_id}"}
    [participant] = encounter["participant"]
    assert participant["individual"] == {"reference": f"Practitioner/{fhir_clinic.therapist_id}"}
    assert encounter["period"] == {"start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}
    assert encounter["length"] == {
        "value": 60,
        "unit": "min",
        "system": "http://unitsofmeasure.org",
        "code": "min",
    }
    assert encounter["serviceType"] == {"text": "therapeutic"}
    assert "extension" not in encounter


async def test_a_no_show_is_a_cancelled_encounter_with_its_reason(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    encounter = await read(client, fhir_clinic, f"Encounter/{fhir_clinic.sessions['no_show']}")
    assert encounter["status"] == "cancelled"
    assert encounter["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/encounter-reasonCancelled",
            "valueCodeableConcept": {"text": "no-show"},
        }
    ]
    cancelled = await read(client, fhir_clinic, f"Encounter/{fhir_clinic.sessions['cancelled']}")
    assert cancelled["status"] == "cancelled"
    assert "extension" not in cancelled


async def test_pain_observation_is_loinc_72514_3(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    pre = await read(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['pain_pre']}")
    post = await read(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['pain_post']}")
    for observation in (pre, post):
        assert observation["status"] == "final"
        assert observation["code"]["coding"] == [PAIN_LOINC]
        assert observation["category"][0]["coding"][0]["code"] == "survey"
        assert observation["subject"] == {"reference": f"Patient/{fhir_clinic.client_id}"}
        assert observation["encounter"] == {
            "reference": f"Encounter/{fhir_clinic.sessions['completed']}"
        }
        assert observation["focus"] == [{"reference": f"Goal/{fhir_clinic.pain_goal_id}"}]
        assert observation["performer"] == [
            {"reference": f"Practitioner/{fhir_clinic.therapist_id}"}
        ]
    assert pre["valueQuantity"] == {
        "value": 6,
        "unit": "points",
        "system": "http://unitsofmeasure.org",
        "code": "{score}",
    }
    assert post["valueQuantity"]["value"] == 3
    # measured before the massage at the session's start, after it at its end
    assert pre["effectiveDateTime"] == "2030-03-04T09:00:00Z"
    assert post["effectiveDateTime"] == "2030-03-04T10:00:00Z"


async def test_other_observations(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    odi = await read(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['odi']}")
    assert odi["code"]["coding"][0]["code"] == "97909-6"
    assert odi["valueQuantity"]["code"] == "%"
    rom = await read(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['rom']}")
    assert "coding" not in rom["code"]
    assert rom["category"][0]["coding"][0]["code"] == "exam"
    assert rom["valueQuantity"] == {
        "value": 75,
        "unit": "degrees",
        "system": "http://unitsofmeasure.org",
        "code": "deg",
    }
    assert "focus" not in rom
    custom = await read(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['custom']}")
    assert custom["valueQuantity"] == {"value": 12, "unit": "steps"}
    assert custom["code"] == {"text": "Custom measure"}
    assert "category" not in custom


# ---- every status, read back -------------------------------------------------------------------


async def set_status(rows: AsyncSession, model: Any, row_id: uuid.UUID, status: str) -> None:
    row = await rows.get(model, row_id)
    assert row is not None
    row.status = status
    await rows.commit()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ReferralStatus.pending, "draft"),
        (ReferralStatus.accepted, "active"),
        (ReferralStatus.declined, "revoked"),
        (ReferralStatus.completed, "completed"),
        (ReferralStatus.cancelled, "revoked"),
    ],
)
async def test_service_request_status(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    status: str,
    expected: str,
) -> None:
    await set_status(rows, Referral, fhir_clinic.referral_id, status)
    resource = await read(client, fhir_clinic, f"ServiceRequest/{fhir_clinic.referral_id}")
    assert resource["status"] == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (CarePlanStatus.draft, "draft"),
        (CarePlanStatus.active, "active"),
        (CarePlanStatus.on_hold, "on-hold"),
        (CarePlanStatus.completed, "completed"),
        (CarePlanStatus.revoked, "revoked"),
        (CarePlanStatus.entered_in_error, "entered-in-error"),
    ],
)
async def test_care_plan_status(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    status: str,
    expected: str,
) -> None:
    await set_status(rows, CarePlan, fhir_clinic.plan_id, status)
    resource = await read(client, fhir_clinic, f"CarePlan/{fhir_clinic.plan_id}")
    assert resource["status"] == expected


@pytest.mark.parametrize(
    ("status", "lifecycle", "achievement"),
    [
        (GoalStatus.proposed, "proposed", None),
        (GoalStatus.active, "active", "in-progress"),
        (GoalStatus.achieved, "completed", "achieved"),
        (GoalStatus.not_achieved, "completed", "not-achieved"),
        (GoalStatus.cancelled, "cancelled", None),
    ],
)
async def test_goal_status(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    status: str,
    lifecycle: str,
    achievement: str | None,
) -> None:
    await set_status(rows, Goal, fhir_clinic.pain_goal_id, status)
    resource = await read(client, fhir_clinic, f"Goal/{fhir_clinic.pain_goal_id}")
    assert resource["lifecycleStatus"] == lifecycle
    if achievement is None:
        assert "achievementStatus" not in resource
    else:
        assert resource["achievementStatus"]["coding"] == [
            {
                "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                "code": achievement,
                "display": achievement.replace("-", " ").title(),
            }
        ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (SessionStatus.scheduled, "planned"),
        (SessionStatus.completed, "finished"),
        (SessionStatus.cancelled, "cancelled"),
        (SessionStatus.no_show, "cancelled"),
    ],
)
async def test_encounter_status(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    status: str,
    expected: str,
) -> None:
    session_id = fhir_clinic.sessions["scheduled"]  # the completed one is signed: it never changes
    await set_status(rows, SessionRecord, session_id, status)
    resource = await read(client, fhir_clinic, f"Encounter/{session_id}")
    assert resource["status"] == expected


# ---- not found ---------------------------------------------------------------------------------

TYPES = [
    "Patient",
    "Practitioner",
    "ServiceRequest",
    "CarePlan",
    "Goal",
    "Encounter",
    "Observation",
]


@pytest.mark.parametrize("resource_type", TYPES)
@pytest.mark.parametrize("resource_id", ["unknown-uuid", "not-a-uuid", "x" * 100])
async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str, resource_id: str
) -> None:
    if resource_id == "unknown-uuid":
        resource_id = str(uuid.uuid4())
    response = await client.get(
        f"/fhir/R4/{resource_type}/{resource_id}", headers=fhir_clinic.headers("admin")
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/fhir+json"
    assert response.json()["issue"][0]["code"] == "not-found"


async def test_ids_of_another_type_are_404(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    admin = fhir_clinic.headers("admin")
    for path in (
        f"Patient/{fhir_clinic.plan_id}",
        f"CarePlan/{fhir_clinic.client_id}",
        f"Encounter/{fhir_clinic.measurements['pain_pre']}",
        f"Observation/{fhir_clinic.sessions['completed']}",
        f"Practitioner/{fhir_clinic.client_id}",
        f"Goal/{fhir_clinic.plan_id}",
        f"ServiceRequest/{fhir_clinic.plan_id}",
    ):
        assert (await client.get(f"/fhir/R4/{path}", headers=admin)).status_code == 404, path


async def test_archived_rows_are_404(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    admin = fhir_clinic.headers("admin")
    plan = await rows.get(CarePlan, fhir_clinic.plan_id)
    person = await rows.get(Client, fhir_clinic.client_id)
    therapist = await rows.get(Therapist, fhir_clinic.therapist_id)
    # a signed session never changes, so the archived session is the cancelled one
    session = await rows.get(SessionRecord, fhir_clinic.sessions["cancelled"])
    assert session
    measured = Measurement(
        session_id=session.id,
        client_id=session.client_id,
        position=0,
        measure="nprs",
        value=5,
        timing="pre",
    )
    rows.add(measured)
    await rows.flush()
    referral = await rows.get(Referral, fhir_clinic.referral_id)
    assert plan
    assert person
    assert therapist
    assert session
    assert referral
    now = dt.datetime.now(dt.UTC)
    for row in (plan, person, therapist, session, referral):
        row.archived_at = now
    await rows.commit()
    for path in (
        f"CarePlan/{fhir_clinic.plan_id}",
        f"Goal/{fhir_clinic.pain_goal_id}",  # its plan is archived
        f"Patient/{fhir_clinic.client_id}",
        f"Practitioner/{fhir_clinic.therapist_id}",
        f"Encounter/{fhir_clinic.sessions['cancelled']}",
        f"Observation/{measured.id}",  # its session is archived
        f"Encounter/{fhir_clinic.sessions['completed']}",  # its patient is archived
        f"Observation/{fhir_clinic.measurements['pain_pre']}",  # its patient is archived
        f"ServiceRequest/{fhir_clinic.referral_id}",
    ):
        assert (await client.get(f"/fhir/R4/{path}", headers=admin)).status_code == 404, path
