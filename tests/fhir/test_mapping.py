"""The mapping as pure functions: complete status maps into R4's value sets, and valid R4 for
rows with every optional field empty as well as full ones."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.careplan import CarePlan as FhirCarePlan
from fhir.resources.R4B.careplan import CarePlanActivityDetail
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.goal import Goal as FhirGoal
from fhir.resources.R4B.servicerequest import ServiceRequest as FhirServiceRequest

from app import measures
from app.care_plans.models import CarePlan, Goal
from app.care_plans.schemas import CarePlanStatus, GoalStatus, Measure
from app.clients.models import Client
from app.directory.models import ReferringProfessional, Therapist
from app.fhir import mapping
from app.fhir.dependencies import parse_patient
from app.fhir.errors import BadRequest
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord
from app.session_records.schemas import SessionStatus
from tests.fhir.validation import validate

NOW = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
START = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)


def r4_codes(model: Any, field: str) -> list[str]:
    extra = model.model_fields[field].json_schema_extra
    assert isinstance(extra, dict)
    codes = extra["enum_values"]
    assert isinstance(codes, list)
    return codes


def stored(row: Any, **values: Any) -> Any:
    """A row as it comes from the database: id, timestamps and version set."""
    row.id = uuid.uuid4()
    row.created_at = NOW
    row.updated_at = NOW
    row.version = 1
    for name, value in values.items():
        setattr(row, name, value)
    return row


# ---- status maps -------------------------------------------------------------------------------

# the contract's status sets, written out
CARE_PLAN_STATUSES = {"draft", "active", "on_hold", "completed", "revoked", "entered_in_error"}
GOAL_STATUSES = {"proposed", "active", "achieved", "not_achieved", "cancelled"}


def test_referral_statuses_map_into_request_status() -> None:
    assert set(mapping.REFERRAL_STATUS) == {
        "pending",
        "accepted",
        "declined",
        "completed",
        "cancelled",
    }
    assert set(mapping.REFERRAL_STATUS.values()) <= set(r4_codes(FhirServiceRequest, "status"))
    assert mapping.REFERRAL_STATUS == {
        "pending": "draft",
        "accepted": "active",
        "declined": "revoked",
        "completed": "completed",
        "cancelled": "revoked",
    }


def test_care_plan_statuses_map_one_to_one() -> None:
    assert set(mapping.CARE_PLAN_STATUS) == CARE_PLAN_STATUSES
    assert set(mapping.CARE_PLAN_STATUS.values()) <= set(r4_codes(FhirCarePlan, "status"))
    assert len(set(mapping.CARE_PLAN_STATUS.values())) == 6
    assert mapping.CARE_PLAN_STATUS["on_hold"] == "on-hold"
    assert mapping.CARE_PLAN_STATUS["entered_in_error"] == "entered-in-error"
    assert set(mapping.CARE_PLAN_ACTIVITY_STATUS) == CARE_PLAN_STATUSES
    assert set(mapping.CARE_PLAN_ACTIVITY_STATUS.values()) <= set(
        r4_codes(CarePlanActivityDetail, "status")
    )


def test_goal_statuses_are_told_apart_by_lifecycle_and_achievement() -> None:
    assert set(mapping.GOAL_LIFECYCLE_STATUS) == GOAL_STATUSES
    assert set(mapping.GOAL_ACHIEVEMENT_STATUS) == GOAL_STATUSES
    assert set(mapping.GOAL_LIFECYCLE_STATUS.values()) <= set(r4_codes(FhirGoal, "lifecycleStatus"))
    achievement_codes = {
        "in-progress", "improving", "worsening", "no-change", "achieved", "sustaining",
        "not-achieved", "no-progress", "not-attainable",
    }  # fmt: skip
    pairs = set()
    for status in sorted(GOAL_STATUSES):
        achievement = mapping.GOAL_ACHIEVEMENT_STATUS[status]
        if achievement is not None:
            assert achievement[0] in achievement_codes
        pairs.add((mapping.GOAL_LIFECYCLE_STATUS[status], achievement))
    assert len(pairs) == 5
    assert mapping.GOAL_ACHIEVEMENT_STATUS["achieved"] == ("achieved", "Achieved")
    assert mapping.GOAL_ACHIEVEMENT_STATUS["not_achieved"] == ("not-achieved", "Not Achieved")


def test_session_statuses_map_into_encounter_status() -> None:
    assert set(mapping.ENCOUNTER_STATUS) == {"scheduled", "completed", "cancelled", "no_show"}
    assert set(mapping.ENCOUNTER_STATUS.values()) <= set(r4_codes(FhirEncounter, "status"))
    assert mapping.ENCOUNTER_STATUS == {
        "scheduled": "planned",
        "completed": "finished",
        "cancelled": "cancelled",
        "no_show": "cancelled",
    }


def test_every_measure_is_coded() -> None:
    assert set(measures.MEASURES) == set(Measure)
    pain = mapping.measure_concept("nprs")
    assert pain["coding"] == [
        {
            "system": "http://loinc.org",
            "code": "72514-3",
            "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        }
    ]
    assert mapping.measure_concept("custom", "Steps walked") == {"text": "Steps walked"}
    assert mapping.measure_quantity("rom", 80, None) == {
        "value": 80,
        "unit": "degrees",
        "system": "http://unitsofmeasure.org",
        "code": "deg",
    }
    assert mapping.measure_quantity("custom", 3, None) == {"value": 3}
    assert mapping.measure_quantity("custom", 3, "km") == {"value": 3, "unit": "km"}


# ---- primitives --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sessions_per_week", "expected"),
    [(1, (1, 1)), (2, (2, 1)), (1.5, (3, 2)), (0.5, (1, 2)), (0.25, (1, 4)), (14, (14, 1))],
)
def test_weekly_frequency(sessions_per_week: float, expected: tuple[int, int]) -> None:
    assert mapping.weekly_frequency(sessions_per_week) == expected


def test_weekly_frequency_of_almost_nothing_is_left_out() -> None:
    assert mapping.weekly_frequency(0.01) is None


def test_instants_are_utc_with_z() -> None:
    assert mapping.instant(NOW) == "2030-01-02T03:04:05Z"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert mapping.instant(dt.datetime(2030, 1, 2, 5, 4, 5, 250_000, plus_two)) == (
        "2030-01-02T03:04:05.250Z"
    )


def test_prune_drops_empty_values_but_keeps_false_and_zero() -> None:
    assert mapping.prune(
        {"a": None, "b": "", "c": [], "d": {}, "e": [None, {"x": None}], "f": False, "g": 0}
    ) == {"f": False, "g": 0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Patient/{id}", True),
        ("{id}", True),
        ("https://fhir.example/fhir/R4/Patient/{id}", True),
        ("Patient/not-a-uuid", False),
        ("not-a-uuid", False),
        ("Patient/", False),
    ],
)
def test_parse_patient(value: str, expected: bool) -> None:
    row_id = uuid.uuid4()
    parsed = parse_patient(value.format(id=row_id))
    assert parsed == (row_id if expected else None)


def test_parse_patient_refuses_another_resource_type() -> None:
    with pytest.raises(BadRequest):
        parse_patient(f"Practitioner/{uuid.uuid4()}")


# ---- rows with nothing optional set are valid R4 too -------------------------------------------


def test_minimal_patient() -> None:
    client = stored(Client(given_name="Min", family_name="Imal"), archived_at=NOW)
    resource = mapping.patient(client)
    validate(resource)
    assert resource["active"] is False
    assert set(resource) == {"resourceType", "id", "meta", "identifier", "active", "name"}


def test_emergency_contact_without_name_or_phone_is_left_out() -> None:
    client = stored(
        Client(given_name="Min", family_name="Imal", emergency_contact={"relationship": "aunt"})
    )
    assert "contact" not in validate_and_return(mapping.patient(client))


def validate_and_return(resource: dict[str, Any]) -> dict[str, Any]:
    validate(resource)
    return resource


def test_minimal_practitioners() -> None:
    therapist = stored(Therapist(full_name="T", credentials=[], certifications=[], active=False))
    resource = validate_and_return(mapping.practitioner(therapist))
    assert resource["active"] is False
    assert "identifier" not in resource
    assert "qualification" not in resource
    professional = stored(ReferringProfessional(full_name="P", discipline="other", active=True))
    resource = validate_and_return(mapping.practitioner(professional))
    assert resource["qualification"] == [{"code": {"text": "Other"}}]


def test_minimal_service_request() -> None:
    referral = stored(
        Referral(
            client_id=uuid.uuid4(),
            referring_professional_id=uuid.uuid4(),
            received_on=dt.date(2030, 1, 1),
            diagnosis_codes=[],
            status="pending",
        )
    )
    resource = validate_and_return(mapping.service_request(referral))
    assert not {"reasonCode", "note", "occurrencePeriod", "quantityQuantity"} & set(resource)


def test_several_diagnoses_keep_their_text_apart() -> None:
    referral = stored(
        Referral(
            client_id=uuid.uuid4(),
            referring_professional_id=uuid.uuid4(),
            received_on=dt.date(2030, 1, 1),
            diagnosis_codes=["M54.2", "G44.2"],
            diagnosis_text="Neck pain and headache",
            status="declined",
        )
    )
    resource = validate_and_return(mapping.service_request(referral))
    assert resource["status"] == "revoked"
    assert resource["reasonCode"] == [
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M54.2"}]},
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "G44.2"}]},
        {"text": "Neck pain and headache"},
    ]


@pytest.mark.parametrize("status", list(CarePlanStatus))
def test_minimal_care_plan_in_every_status(status: CarePlanStatus) -> None:
    plan = stored(
        CarePlan(
            client_id=uuid.uuid4(), title="T", kind="wellness", status=status, coordinated_care=[]
        )
    )
    resource = validate_and_return(mapping.care_plan(mapping.CarePlanSource(plan, [], [], [])))
    assert resource["status"] == mapping.CARE_PLAN_STATUS[status]
    assert resource["activity"] == [
        {
            "detail": {
                "status": mapping.CARE_PLAN_ACTIVITY_STATUS[status],
                "code": {"text": "Massage therapy session"},
            }
        }
    ]


def test_coordinated_care_without_a_professional() -> None:
    plan = stored(
        CarePlan(
            client_id=uuid.uuid4(),
            title="T",
            kind="oncology_support",
            status="active",
            coordinated_care=[{"discipline": "psychotherapy", "referring_professional_id": None}],
        )
    )
    resource = validate_and_return(mapping.care_plan(mapping.CarePlanSource(plan, [], [], [])))
    assert resource["activity"][1] == {
        "detail": {"status": "unknown", "code": {"text": "Psychotherapy"}}
    }


@pytest.mark.parametrize("status", list(GoalStatus))
def test_minimal_goal_in_every_status(status: GoalStatus) -> None:
    goal = stored(Goal(care_plan_id=uuid.uuid4(), description="D", measure="custom", status=status))
    resource = validate_and_return(mapping.goal(mapping.GoalSource(goal, uuid.uuid4(), [])))
    assert resource["lifecycleStatus"] == mapping.GOAL_LIFECYCLE_STATUS[status]
    assert resource["target"] == [{"measure": {"text": "Custom measure"}}]


@pytest.mark.parametrize("status", list(SessionStatus))
def test_encounter_in_every_status(status: SessionStatus) -> None:
    session = stored(
        SessionRecord(
            client_id=uuid.uuid4(),
            therapist_id=uuid.uuid4(),
            scheduled_start=START,
            scheduled_end=START + dt.timedelta(minutes=30),
            duration_minutes=30,
            status=status,
            session_type="relaxation",
        )
    )
    resource = validate_and_return(mapping.encounter(session))
    assert resource["status"] == mapping.ENCOUNTER_STATUS[status]
    assert ("extension" in resource) is (status == "no_show")


@pytest.mark.parametrize("measure", list(Measure))
def test_observation_of_every_measure(measure: Measure) -> None:
    row = Measurement(
        id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        position=0,
        measure=measure,
        value=5,
        timing="pre",
        created_at=NOW,
    )
    source = mapping.ObservationSource(
        row, START, START + dt.timedelta(hours=1), uuid.uuid4(), None
    )
    resource = validate_and_return(mapping.observation(source))
    assert "focus" not in resource
    assert resource["effectiveDateTime"] == "2030-03-04T09:00:00Z"
    assert ("category" in resource) is (measure != "custom")
