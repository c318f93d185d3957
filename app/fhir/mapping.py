"""Our rows as FHIR R4 (4.0.1) resources: pure functions from stored data to JSON documents.

Nothing here reads the database or the request. Every function returns a plain dict that is
valid R4 JSON: no nulls, no empty strings, lists or objects (FHIR's ele-1 rule), codes from the
value sets R4 binds, and references only to the resource types R4 allows in each place.

Where R4 has no element for something we store, the mapping says so:

* CarePlan.basedOn may only point at other CarePlans in R4, so the referrals a plan answers
  are listed in `supportingInfo` (any resource) instead.
* CarePlan.activity.reference may not point at an Encounter in R4; the plan's sessions are the
  `outcomeReference` of its massage activity (R4: "the reference to an event resource, such as
  … Encounter … is the result/outcome of the activity itself").
* Encounter has no element for the care plan it belongs to; the plan lists its encounters.
* A no-show is a cancelled Encounter carrying the core `encounter-reasonCancelled` extension.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from app import measures
from app.care_plans.models import CarePlan, Goal
from app.clients.models import Client
from app.directory.models import ReferringProfessional, Therapist
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord

FHIR_VERSION = "4.0.1"
FHIR_MEDIA_TYPE = "application/fhir+json"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD_10 = "http://hl7.org/fhir/sid/icd-10"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
REASON_CANCELLED = "http://hl7.org/fhir/StructureDefinition/encounter-reasonCancelled"

FhirResource = dict[str, Any]

# ---- status maps: every status we store, to the R4 code it means --------------------------------

# ServiceRequest.status (request-status): R4 has no "declined"; a declined referral was never
# acted on and is withdrawn from use, which R4 calls "revoked" — as it does a cancelled one.
REFERRAL_STATUS: dict[str, str] = {
    "pending": "draft",
    "accepted": "active",
    "declined": "revoked",
    "completed": "completed",
    "cancelled": "revoked",
}

# CarePlan.status (request-status): our statuses are R4's, one to one
CARE_PLAN_STATUS: dict[str, str] = {
    "draft": "draft",
    "active": "active",
    "on_hold": "on-hold",
    "completed": "completed",
    "revoked": "revoked",
    "entered_in_error": "entered-in-error",
}

# CarePlan.activity.detail.status (care-plan-activity-status) of the plan's massage sessions
CARE_PLAN_ACTIVITY_STATUS: dict[str, str] = {
    "draft": "not-started",
    "active": "in-progress",
    "on_hold": "on-hold",
    "completed": "completed",
    "revoked": "stopped",
    "entered_in_error": "entered-in-error",
}

# Goal.lifecycleStatus (goal-status) and Goal.achievementStatus (goal-achievement): a goal that
# was not achieved is no longer pursued ("completed") with the outcome "not-achieved"; together
# the two codes tell every one of our statuses apart.
GOAL_LIFECYCLE_STATUS: dict[str, str] = {
    "proposed": "proposed",
    "active": "active",
    "achieved": "completed",
    "not_achieved": "completed",
    "cancelled": "cancelled",
}
GOAL_ACHIEVEMENT_STATUS: dict[str, tuple[str, str] | None] = {
    "proposed": None,
    "active": ("in-progress", "In Progress"),
    "achieved": ("achieved", "Achieved"),
    "not_achieved": ("not-achieved", "Not Achieved"),
    "cancelled": None,
}

# Encounter.status (encounter-status); a no-show is cancelled with a reason
ENCOUNTER_STATUS: dict[str, str] = {
    "scheduled": "planned",
    "completed": "finished",
    "cancelled": "cancelled",
    "no_show": "cancelled",
}


# ---- measures ----------------------------------------------------------------------------------


def measure_concept(measure: str, label: str | None = None) -> dict[str, Any]:
    """The CodeableConcept of a measure; `label` (a goal's own name for it) is its text."""
    info = measures.measure_info(measure)
    concept: dict[str, Any] = {}
    if info.loinc is not None:
        concept["coding"] = [{"system": LOINC, "code": info.loinc[0], "display": info.loinc[1]}]
    concept["text"] = fhir_string(label or "") or info.fhir_text
    return concept


def measure_quantity(measure: str, value: float, unit: str | None) -> dict[str, Any]:
    """A Quantity of a measure: UCUM-coded for the standard measures; its unit text is the one
    the API and the summaries show (`measures.goal_unit`)."""
    quantity: dict[str, Any] = {"value": value}
    info = measures.measure_info(measure)
    shown = measures.goal_unit(measure, unit)
    if shown:
        quantity["unit"] = shown
    if info.ucum is not None:
        quantity.update(system=UCUM, code=info.ucum)
    return quantity


# ---- primitives --------------------------------------------------------------------------------


def instant(value: dt.datetime) -> str:
    """An R4 instant/dateTime in UTC with `Z`; fractions of a second only when there are some."""
    utc = value.astimezone(dt.UTC)
    spec = "milliseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def reference(resource_type: str, row_id: uuid.UUID | None) -> dict[str, str] | None:
    return {"reference": f"{resource_type}/{row_id}"} if row_id is not None else None


def references(resource_type: str, row_ids: Iterable[uuid.UUID]) -> list[dict[str, str]]:
    return [{"reference": f"{resource_type}/{row_id}"} for row_id in row_ids]


def words(code: str) -> str:
    """`oncology_support` → `Oncology support`."""
    return code.replace("_", " ").capitalize()


# FHIR `string`: no characters below U+0020 but tab, carriage return and line feed (R4 §2.24),
# and at least one that is not white space. C1 controls and DEL go too: no reader wants them.
_NOT_IN_STRINGS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_EDGE_SPACE = re.compile(r"^[\s\ufeff]+|[\s\ufeff]+$")


def fhir_string(value: str) -> str | None:
    """`value` as a valid FHIR string: control characters removed, white space trimmed; None
    when nothing is left. Every string the facade emits passes through here (via `prune`)."""
    text = _EDGE_SPACE.sub("", _NOT_IN_STRINGS.sub("", value))
    return text or None


def prune(value: Any) -> Any:
    """The one place where a document becomes valid R4 JSON: strings are cleaned (see
    `fhir_string`), non-finite numbers dropped, and then nulls, empty strings, empty lists and
    empty objects, which R4 JSON forbids (ele-1), are dropped."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    if isinstance(value, str):
        return fhir_string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def drop_references(resource: FhirResource, visible: Set[str]) -> FhirResource:
    """The resource without the references (`Type/id`) outside `visible`: nothing the facade
    serves points at a record the reader cannot read (an archived one, or one it may not see)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            target = value.get("reference")
            if isinstance(target, str) and target not in visible:
                return None
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    cleaned: FhirResource = prune(walk(resource))
    return cleaned


def reference_targets(value: Any) -> set[str]:
    """Every `Type/id` the document refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        target = value.get("reference")
        if isinstance(target, str):
            found.add(target)
        for item in value.values():
            found |= reference_targets(item)
    elif isinstance(value, list):
        for item in value:
            found |= reference_targets(item)
    return found


def _meta(version: int | None, updated_at: dt.datetime) -> dict[str, str]:
    meta = {"lastUpdated": instant(updated_at)}
    if version is not None:
        meta["versionId"] = str(version)
    return meta


def _telecom(**systems: str | None) -> list[dict[str, str]]:
    return [{"system": system, "value": value} for system, value in systems.items() if value]


# ---- Patient -----------------------------------------------------------------------------------


# Patient.identifier: the client's id as a URN, the one identifier the clinic keeps
URI_SYSTEM = "urn:ietf:rfc:3986"


def patient_identifier(client_id: uuid.UUID) -> str:
    return f"urn:uuid:{client_id}"


def patient(client: Client, *, name_and_birth_date_only: bool = False) -> FhirResource:
    """A client; for a referrer (`name_and_birth_date_only`) nothing but its name and birth date."""
    name = {
        "use": "official",
        "text": f"{fhir_string(client.given_name) or ''} {fhir_string(client.family_name) or ''}",
        "family": client.family_name,
        "given": [client.given_name],
    }
    if name_and_birth_date_only:
        return prune(  # type: ignore[no-any-return]
            {
                "resourceType": "Patient",
                "id": str(client.id),
                "meta": _meta(client.version, client.updated_at),
                "name": [name],
                "birthDate": date(client.date_of_birth),
            }
        )
    contact = client.emergency_contact or {}
    emergency = None
    if fhir_string(str(contact.get("name") or "")) or fhir_string(str(contact.get("phone") or "")):
        emergency = {
            "relationship": [
                {
                    "coding": [
                        {"system": V2_CONTACT_ROLE, "code": "C", "display": "Emergency Contact"}
                    ]
                },
                {"text": contact.get("relationship")},
            ],
            "name": {"text": contact.get("name")},
            "telecom": _telecom(phone=contact.get("phone")),
        }
    resource = {
        "resourceType": "Patient",
        "id": str(client.id),
        "meta": _meta(client.version, client.updated_at),
        "identifier": [{"system": URI_SYSTEM, "value": patient_identifier(client.id)}],
        "active": client.archived_at is None,
        "name": [name],
        "telecom": _telecom(phone=client.phone, email=client.email),
        "birthDate": date(client.date_of_birth),
        "address": [{"text": client.address}],
        "contact": [emergency],
    }
    return prune(resource)  # type: ignore[no-any-return]


# ---- Practitioner ------------------------------------------------------------------------------


def _identifier(code: str, display: str, value: str | None, **more: Any) -> dict[str, Any] | None:
    if not value:
        return None
    return {
        "use": "official",
        "type": {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": code, "display": display}]},
        "value": value,
        **more,
    }


def certification_text(certification: str) -> str:
    """`prenatal` → `Prenatal massage certification`; `medical_massage` → `Medical massage
    certification` (the word once)."""
    name = words(certification)
    if not name.lower().endswith("massage"):
        name += " massage"
    return f"{name} certification"


def therapist_practitioner(therapist: Therapist) -> FhirResource:
    license_id = _identifier(
        "LN",
        "License number",
        therapist.license_number,
        period={"end": date(therapist.license_expires_on)},
        assigner={"display": therapist.license_region},
    )
    qualifications: list[dict[str, Any] | None] = []
    if therapist.license_number:
        qualifications.append(
            {
                "identifier": [license_id],
                "code": {"text": "Massage therapy license"},
                "period": {"end": date(therapist.license_expires_on)},
                "issuer": {"display": therapist.license_region},
            }
        )
    qualifications += [{"code": {"text": credential}} for credential in therapist.credentials]
    qualifications += [
        {"code": {"text": certification_text(cert)}} for cert in therapist.certifications
    ]
    resource = {
        "resourceType": "Practitioner",
        "id": str(therapist.id),
        "meta": _meta(therapist.version, therapist.updated_at),
        "identifier": [license_id],
        "active": therapist.active and therapist.archived_at is None,
        "name": [{"use": "official", "text": therapist.full_name}],
        "telecom": _telecom(phone=therapist.phone, email=therapist.email),
        "qualification": qualifications,
    }
    return prune(resource)  # type: ignore[no-any-return]


def referring_professional_practitioner(professional: ReferringProfessional) -> FhirResource:
    registration = _identifier("PRN", "Provider number", professional.registration_number)
    resource = {
        "resourceType": "Practitioner",
        "id": str(professional.id),
        "meta": _meta(professional.version, professional.updated_at),
        "identifier": [registration],
        "active": professional.active and professional.archived_at is None,
        "name": [{"use": "official", "text": professional.full_name}],
        "telecom": _telecom(
            phone=professional.phone, fax=professional.fax, email=professional.email
        ),
        "qualification": [
            {
                "identifier": [registration],
                "code": {"text": words(professional.discipline)},
                "issuer": {"display": professional.organization},
            }
        ],
    }
    return prune(resource)  # type: ignore[no-any-return]


def practitioner(row: Therapist | ReferringProfessional) -> FhirResource:
    if isinstance(row, Therapist):
        return therapist_practitioner(row)
    return referring_professional_practitioner(row)


# ---- ServiceRequest ----------------------------------------------------------------------------


def _reason_codes(codes: Sequence[str], text: str | None) -> list[dict[str, Any]]:
    concepts: list[dict[str, Any]] = [
        {"coding": [{"system": ICD_10, "code": code}]} for code in codes
    ]
    if text and len(concepts) == 1:
        concepts[0]["text"] = text
    elif text:
        concepts.append({"text": text})
    return concepts


def service_request(referral: Referral) -> FhirResource:
    occurrence = None
    if referral.valid_until is not None:
        occurrence = {"start": date(referral.received_on), "end": date(referral.valid_until)}
    quantity = None
    if referral.authorized_sessions is not None:
        quantity = {
            "value": referral.authorized_sessions,
            "unit": "sessions",
            "system": UCUM,
            "code": "{session}",
        }
    notes = [{"text": referral.reason}]
    if referral.precautions_note:
        notes.append({"text": f"Precautions: {referral.precautions_note}"})
    resource = {
        "resourceType": "ServiceRequest",
        "id": str(referral.id),
        "meta": _meta(referral.version, referral.updated_at),
        "status": REFERRAL_STATUS[referral.status],
        "intent": "order",
        "code": {"text": "Massage therapy"},
        "subject": reference("Patient", referral.client_id),
        "requester": reference("Practitioner", referral.referring_professional_id),
        "authoredOn": date(referral.received_on),
        "occurrencePeriod": occurrence,
        "quantityQuantity": quantity,
        "reasonCode": _reason_codes(referral.diagnosis_codes, referral.diagnosis_text),
        "note": notes,
    }
    return prune(resource)  # type: ignore[no-any-return]


# ---- CarePlan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarePlanSource:
    plan: CarePlan
    goal_ids: list[uuid.UUID]
    referral_ids: list[uuid.UUID]
    session_ids: list[uuid.UUID]


def weekly_frequency(sessions_per_week: float) -> tuple[int, int] | None:
    """Sessions a week as R4 Timing's whole `frequency` per `period` weeks (1.5 → 3 per 2)."""
    ratio = Fraction(sessions_per_week).limit_denominator(4)
    if ratio <= 0:
        return None
    return ratio.numerator, ratio.denominator


def _schedule(plan: CarePlan) -> dict[str, Any] | None:
    repeat: dict[str, Any] = {
        "count": plan.planned_sessions,
        "boundsPeriod": {"start": date(plan.start_date), "end": date(plan.end_date)},
    }
    if plan.sessions_per_week is not None:
        frequency = weekly_frequency(plan.sessions_per_week)
        if frequency is not None:
            repeat.update(frequency=frequency[0], period=frequency[1], periodUnit="wk")
    return {"repeat": repeat}


def care_plan(source: CarePlanSource, *, with_notes: bool = True) -> FhirResource:
    """A care plan; a referrer reads it without the clinic's notes (`with_notes=False`)."""
    plan = source.plan
    therapist = reference("Practitioner", plan.primary_therapist_id)
    sessions = {
        "outcomeReference": references("Encounter", source.session_ids),
        "detail": {
            "status": CARE_PLAN_ACTIVITY_STATUS[plan.status],
            "code": {"text": "Massage therapy session"},
            "scheduledTiming": _schedule(plan),
            "performer": [therapist],
        },
    }
    coordinated = [
        {
            "detail": {
                "status": "unknown",
                "code": {"text": words(str(part.get("discipline") or "other"))},
                "description": part.get("description"),
                "performer": [
                    reference("Practitioner", _uuid(part.get("referring_professional_id")))
                ],
            }
        }
        for part in plan.coordinated_care
    ]
    resource = {
        "resourceType": "CarePlan",
        "id": str(plan.id),
        "meta": _meta(plan.version, plan.updated_at),
        "status": CARE_PLAN_STATUS[plan.status],
        "intent": "plan",
        "category": [{"text": plan.kind}],
        "title": plan.title,
        "subject": reference("Patient", plan.client_id),
        "period": {"start": date(plan.start_date), "end": date(plan.end_date)},
        "created": instant(plan.created_at),
        "author": therapist,
        "supportingInfo": references("ServiceRequest", source.referral_ids),
        "goal": references("Goal", source.goal_ids),
        "activity": [sessions, *coordinated],
        "note": [{"text": plan.notes}] if with_notes else None,
    }
    return prune(resource)  # type: ignore[no-any-return]


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# ---- Goal --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoalSource:
    goal: Goal
    client_id: uuid.UUID
    observation_ids: list[uuid.UUID]


def goal(source: GoalSource) -> FhirResource:
    row = source.goal
    achievement = GOAL_ACHIEVEMENT_STATUS[row.status]
    target_quantity = None
    if row.target_value is not None:
        target_quantity = measure_quantity(row.measure, row.target_value, row.unit)
    baseline = None
    if row.baseline_value is not None:
        unit = f" {row.unit}" if row.unit else ""
        baseline = {"text": f"Baseline: {row.baseline_value:g}{unit}"}
    resource = {
        "resourceType": "Goal",
        "id": str(row.id),
        "meta": _meta(row.version, row.updated_at),
        "lifecycleStatus": GOAL_LIFECYCLE_STATUS[row.status],
        "achievementStatus": (
            {
                "coding": [
                    {"system": GOAL_ACHIEVEMENT, "code": achievement[0], "display": achievement[1]}
                ]
            }
            if achievement
            else None
        ),
        # R4 requires a description: a goal whose text is unusable is named by its measure
        "description": {
            "text": fhir_string(row.description) or measures.measure_info(row.measure).fhir_text
        },
        "subject": reference("Patient", source.client_id),
        "target": [
            {
                "measure": measure_concept(row.measure, row.measure_label),
                "detailQuantity": target_quantity,
                "dueDate": date(row.target_date),
            }
        ],
        "note": [baseline],
        "outcomeReference": references("Observation", source.observation_ids),
    }
    return prune(resource)  # type: ignore[no-any-return]


# ---- Encounter ---------------------------------------------------------------------------------


def encounter(session: SessionRecord) -> FhirResource:
    extension = None
    if session.status == "no_show":
        extension = [{"url": REASON_CANCELLED, "valueCodeableConcept": {"text": "no-show"}}]
    resource = {
        "resourceType": "Encounter",
        "id": str(session.id),
        "meta": _meta(session.version, session.updated_at),
        "extension": extension,
        "status": ENCOUNTER_STATUS[session.status],
        "class": {"system": V3_ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "Massage therapy session"}],
        "serviceType": {"text": session.session_type},
        "subject": reference("Patient", session.client_id),
        "participant": [
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": V3_PARTICIPATION_TYPE,
                                "code": "PPRF",
                                "display": "primary performer",
                            }
                        ]
                    }
                ],
                "individual": reference("Practitioner", session.therapist_id),
            }
        ],
        "period": {
            "start": instant(session.scheduled_start),
            "end": instant(session.scheduled_end),
        },
        "length": {"value": session.duration_minutes, "unit": "min", "system": UCUM, "code": "min"},
    }
    return prune(resource)  # type: ignore[no-any-return]


# ---- Observation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObservationSource:
    """A measurement with what it needs from its session (and its goal's name for the measure)."""

    measurement: Measurement
    session_start: dt.datetime
    session_end: dt.datetime
    therapist_id: uuid.UUID
    measure_label: str | None = None


# A measurement row is never changed (a session's measurements are replaced, with new ids),
# so every Observation is at its first version.
OBSERVATION_VERSION = 1

# Observation.method says when the value was taken relative to the massage (R4 binds `method`
# to an example value set only, so a code system of our own is valid): machine-readable codes
# of MEASUREMENT_TIMING, with a display and a text for people.
MEASUREMENT_TIMING = "https://careplan.example/fhir/CodeSystem/measurement-timing"
TIMING_CODES: dict[str, tuple[str, str]] = {
    "pre": ("pre-treatment", "Before treatment"),
    "post": ("post-treatment", "After treatment"),
}


def timing_concept(timing: str) -> dict[str, Any] | None:
    code = TIMING_CODES.get(timing)
    if code is None:
        return None
    return {
        "coding": [{"system": MEASUREMENT_TIMING, "code": code[0], "display": code[1]}],
        "text": code[1],
    }


def observation(source: ObservationSource) -> FhirResource:
    row = source.measurement
    category_code = measures.measure_info(row.measure).observation_category
    category = None
    if category_code is not None:
        category = [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": category_code,
                        "display": category_code.capitalize(),
                    }
                ]
            }
        ]
    # measured before the massage at the session's start, after it at the session's end
    effective = source.session_end if row.timing == "post" else source.session_start
    resource = {
        "resourceType": "Observation",
        "id": str(row.id),
        "meta": _meta(OBSERVATION_VERSION, row.created_at),
        "status": "final",
        "category": category,
        "code": measure_concept(row.measure, source.measure_label),
        "subject": reference("Patient", row.client_id),
        "focus": [reference("Goal", row.goal_id)],
        "encounter": reference("Encounter", row.session_id),
        "effectiveDateTime": instant(effective),
        "method": timing_concept(row.timing),
        "issued": instant(row.created_at),
        "performer": [reference("Practitioner", source.therapist_id)],
        "valueQuantity": measure_quantity(row.measure, row.value, row.unit),
    }
    return prune(resource)  # type: ignore[no-any-return]


# ---- Bundle and CapabilityStatement ------------------------------------------------------------


def searchset(
    base_url: str,
    resources: Sequence[FhirResource],
    total: int,
    self_url: str,
    next_url: str | None = None,
) -> FhirResource:
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: FhirResource = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if resources:
        bundle["entry"] = [
            {
                "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return bundle


# ---- what the facade supports: the CapabilityStatement says exactly this -----------------------


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: str
    definition: str
    documentation: str


_SP = "http://hl7.org/fhir/SearchParameter"
ID_PARAM = SearchParam(
    "_id", "token", f"{_SP}/Resource-id", "One logical id, or several separated by commas"
)
PATIENT_PARAM = SearchParam(
    "patient",
    "reference",
    f"{_SP}/clinical-patient",
    "`Patient/<id>` or the bare id of the patient",
)
SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        SearchParam(
            "name",
            "string",
            f"{_SP}/Patient-name",
            "Case-insensitive start of the given name, the family name or the whole name",
        ),
        SearchParam(
            "birthdate",
            "date",
            f"{_SP}/individual-birthdate",
            "A date (YYYY, YYYY-MM or YYYY-MM-DD) with an optional prefix eq, ne, gt, lt, ge "
            "or le; repeat the parameter for a range",
        ),
        SearchParam(
            "identifier",
            "token",
            f"{_SP}/Patient-identifier",
            f"`[{URI_SYSTEM}|]urn:uuid:<id>`: the identifier every Patient carries",
        ),
        ID_PARAM,
    ),
    "CarePlan": (PATIENT_PARAM, ID_PARAM),
    "Encounter": (PATIENT_PARAM, ID_PARAM),
    "Observation": (PATIENT_PARAM, ID_PARAM),
}
SEARCH_ORDER: dict[str, str] = {
    "Patient": "oldest record first",
    "CarePlan": "oldest plan first",
    "Encounter": "by start (`period.start`), earliest first",
    "Observation": "by `effectiveDateTime`, earliest first",
}
READ_TYPES = (
    "CarePlan",
    "Encounter",
    "Goal",
    "Observation",
    "Patient",
    "Practitioner",
    "ServiceRequest",
)
MAX_COUNT = 200
DEFAULT_COUNT = 50
CAPABILITY_DATE = "2026-12-01"


def capability_statement(base_url: str, software_version: str, publisher: str) -> FhirResource:
    resources: list[dict[str, Any]] = []
    for resource_type in READ_TYPES:
        entry: dict[str, Any] = {
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "interaction": [
                {
                    "code": "read",
                    "documentation": 'Also HEAD. The answer carries `ETag: W/"<versionId>"` '
                    "and `Last-Modified`.",
                }
            ],
            "versioning": "versioned",
            "readHistory": False,
            "updateCreate": False,
            "conditionalRead": "not-supported",
        }
        params = SEARCH_PARAMS.get(resource_type)
        if params is not None:
            entry["interaction"].append(
                {
                    "code": "search-type",
                    "documentation": "GET or HEAD; a searchset Bundle, "
                    f"{SEARCH_ORDER[resource_type]}. "
                    f"`_count` (0-{MAX_COUNT}, default {DEFAULT_COUNT}) sets the page size and "
                    "the Bundle's `next` link gives the following page; `_summary=count` "
                    "returns the total alone; `_format` may ask for JSON only (XML: 406). Any "
                    "other parameter (or modifier) is refused with 400, unless the request "
                    "sends `Prefer: handling=lenient`, which ignores it.",
                }
            )
            entry["searchParam"] = [
                {
                    "name": param.name,
                    "definition": param.definition,
                    "type": param.type,
                    "documentation": param.documentation,
                }
                for param in params
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "careplan",
        "name": "CareplanFhirFacade",
        "title": "Careplan FHIR R4 facade",
        "status": "active",
        "experimental": False,
        "date": CAPABILITY_DATE,
        "publisher": publisher,
        "description": "A read-only FHIR R4 view of the clinic's clients, practitioners, "
        "referrals, care plans, goals, sessions and measurements.",
        "kind": "instance",
        "software": {"name": "Careplan API", "version": software_version},
        "implementation": {"description": "Careplan FHIR R4 facade", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Every interaction but this CapabilityStatement "
                "needs `Authorization: Bearer <token>`; the caller's role decides what it may "
                "read, and a resource it may not see answers 404. Errors are OperationOutcomes. "
                "Observation.method tells a value taken before the treatment "
                f"(`{MEASUREMENT_TIMING}|pre-treatment`) from one taken after it "
                "(`post-treatment`).",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {"system": SECURITY_SERVICE, "code": "OAuth", "display": "OAuth"}
                            ],
                            "text": "Bearer tokens: access tokens from POST /v1/auth/token, "
                            "or API keys",
                        }
                    ],
                    "description": "Send `Authorization: Bearer <token>` with every request.",
                },
                "resource": resources,
            }
        ],
    }
