"""Who may read what on the facade, the CapabilityStatement, and the audit trail of reads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.auth import service as auth_service
from app.auth.models import User
from app.auth.schemas import ApiKeyCreate
from app.clients.models import Consent
from app.core.config import Settings
from app.core.db import utcnow
from app.core.security import Caller, Role, issue_access_token
from app.directory.models import ReferringProfessional
from app.referrals.models import Referral
from tests.fhir.conftest import FhirClinic
from tests.fhir.validation import validate

READ_PATHS = {
    "Patient": "Patient/{client}",
    "Practitioner": "Practitioner/{therapist}",
    "ServiceRequest": "ServiceRequest/{referral}",
    "CarePlan": "CarePlan/{plan}",
    "Goal": "Goal/{goal}",
    "Encounter": "Encounter/{session}",
    "Observation": "Observation/{measurement}",
}
SEARCH_PATHS = {
    "Patient?": "Patient?_id={client}",
    "CarePlan?": "CarePlan?patient={client}",
    "Encounter?": "Encounter?patient={client}",
    "Observation?": "Observation?patient={client}",
}
ALL_PATHS = {"metadata": "metadata", **READ_PATHS, **SEARCH_PATHS}


def url(clinic: FhirClinic, path: str, *, other: bool = False) -> str:
    """The path filled with the shared client's rows, or (`other`) the unshared client's."""
    values = {
        "client": clinic.other_client_id if other else clinic.client_id,
        "therapist": clinic.therapist_id,
        "referral": clinic.other_referral_id if other else clinic.referral_id,
        "plan": clinic.other_plan_id if other else clinic.plan_id,
        "goal": clinic.pain_goal_id,
        "session": clinic.other_session_id if other else clinic.sessions["completed"],
        "measurement": (clinic.other_measurement_id if other else clinic.measurements["pain_pre"]),
    }
    return "/fhir/R4/" + path.format(**values)


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    return await client.get(path, headers=headers)


# ---- authentication ----------------------------------------------------------------------------


def issue_code(response: httpx.Response) -> str:
    """The issue code of an OperationOutcome answer, which every FHIR error is."""
    assert response.headers["content-type"] == "application/fhir+json"
    outcome = response.json()
    validate(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["severity"] == "error"
    return str(issue["code"])


@pytest.mark.parametrize("name", [name for name in ALL_PATHS if name != "metadata"])
async def test_every_path_but_metadata_needs_a_token(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, name: str
) -> None:
    path = url(fhir_clinic, ALL_PATHS[name])
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await get(client, path, headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert issue_code(response) == "login"


async def test_metadata_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await get(client, "/fhir/R4/metadata", {})
    assert response.status_code == 200
    assert response.json()["resourceType"] == "CapabilityStatement"


# ---- the clinic's staff ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "therapist"])
@pytest.mark.parametrize("name", list(ALL_PATHS))
async def test_clinicians_read_everything(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, role: str, name: str
) -> None:
    response = await get(client, url(fhir_clinic, ALL_PATHS[name]), fhir_clinic.headers(role))
    assert response.status_code == 200, response.text
    validate(response.json())


@pytest.mark.parametrize("name", list(ALL_PATHS))
async def test_the_front_desk_reads_demographics_and_directories_only(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, name: str
) -> None:
    response = await get(
        client, url(fhir_clinic, ALL_PATHS[name]), fhir_clinic.headers("front_desk")
    )
    if name in ("metadata", "Patient", "Practitioner", "Patient?"):
        assert response.status_code == 200, response.text
        validate(response.json())
    else:
        assert response.status_code == 403, response.text
        assert issue_code(response) == "forbidden"


# ---- referrers ---------------------------------------------------------------------------------

REFERRER_SEES = ["Patient", "ServiceRequest", "CarePlan", "Goal", "Encounter", "Observation"]


@pytest.mark.parametrize("name", REFERRER_SEES)
async def test_a_referrer_reads_a_client_who_shares_with_it(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, name: str
) -> None:
    response = await get(
        client, url(fhir_clinic, READ_PATHS[name]), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 200, response.text
    validate(response.json())


@pytest.mark.parametrize("name", list(SEARCH_PATHS))
async def test_a_referrer_searches_a_client_who_shares_with_it(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, name: str
) -> None:
    response = await get(
        client, url(fhir_clinic, SEARCH_PATHS[name]), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] > 0


@pytest.mark.parametrize(
    "name", ["Patient", "ServiceRequest", "CarePlan", "Encounter", "Observation"]
)
async def test_a_referrer_does_not_see_a_client_who_does_not_share(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, name: str
) -> None:
    # the referrer referred the other client too, but holds no consent of theirs
    response = await get(
        client, url(fhir_clinic, READ_PATHS[name], other=True), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 404, response.text
    assert issue_code(response) == "not-found"


@pytest.mark.parametrize("name", [name for name in SEARCH_PATHS if name != "Patient?"])
async def test_a_referrer_searching_an_unshared_client_finds_nothing(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, name: str
) -> None:
    response = await get(
        client, url(fhir_clinic, SEARCH_PATHS[name], other=True), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 200, response.text
    bundle = response.json()
    validate(bundle)
    assert bundle["total"] == 0
    assert "entry" not in bundle
    [event] = await audit_events(rows, response)
    assert event.action == "denied"
    assert event.client_id == fhir_clinic.other_client_id
    assert event.resource_type == f"fhir:{name.rstrip('?')}"


async def test_a_referrer_finds_only_its_patients(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    response = await get(client, "/fhir/R4/Patient", fhir_clinic.headers("referrer"))
    assert [entry["resource"]["id"] for entry in response.json()["entry"]] == [
        str(fhir_clinic.client_id)
    ]
    staff = await get(client, "/fhir/R4/Patient", fhir_clinic.headers("front_desk"))
    assert staff.json()["total"] == 2


async def test_a_referrer_reads_no_practitioner(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    # not in what its summaries disclose (CONTRACT §9), not even its own entry
    headers = fhir_clinic.headers("referrer")
    own = await get(
        client, f"/fhir/R4/Practitioner/{fhir_clinic.referring_professional_id}", headers
    )
    assert own.status_code == 404
    therapist = await get(client, f"/fhir/R4/Practitioner/{fhir_clinic.therapist_id}", headers)
    assert therapist.status_code == 404
    staff = fhir_clinic.headers("admin")
    for row_id in (fhir_clinic.referring_professional_id, fhir_clinic.therapist_id):
        response = await get(client, f"/fhir/R4/Practitioner/{row_id}", staff)
        assert response.status_code == 200


async def test_a_referrer_reads_only_its_own_referrals(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    colleague = ReferringProfessional(full_name="Dr. Colleague", discipline="oncology")
    rows.add(colleague)
    await rows.flush()
    theirs = Referral(
        client_id=fhir_clinic.client_id,
        referring_professional_id=colleague.id,
        received_on=dt.date(2030, 2, 1),
        diagnosis_codes=[],
        status="pending",
    )
    rows.add(theirs)
    await rows.commit()
    headers = fhir_clinic.headers("referrer")
    assert (await get(client, f"/fhir/R4/ServiceRequest/{theirs.id}", headers)).status_code == 404
    staff = fhir_clinic.headers("therapist")
    assert (await get(client, f"/fhir/R4/ServiceRequest/{theirs.id}", staff)).status_code == 200


async def consent(rows: AsyncSession, clinic: FhirClinic) -> Consent:
    row = await rows.get(Consent, clinic.consent_id)
    assert row is not None
    return row


def today() -> dt.date:
    return utcnow().date()


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_at": "now"},
        {"expires_on": -1},
        {"granted_on": +1},
        {"kind": "treatment"},
        {"referring_professional_id": "another"},
    ],
    ids=["revoked", "expired", "not-yet-granted", "another-kind", "naming-another"],
)
async def test_a_referrer_loses_sight_without_an_active_consent(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    change: dict[str, Any],
) -> None:
    row = await consent(rows, fhir_clinic)
    for name, value in change.items():
        if value == "now":
            value = utcnow()
        elif value == "another":
            other = ReferringProfessional(full_name="Dr. Other", discipline="other")
            rows.add(other)
            await rows.flush()
            value = other.id
        elif isinstance(value, int):
            value = today() + dt.timedelta(days=value)
        setattr(row, name, value)
    await rows.commit()
    headers = fhir_clinic.headers("referrer")
    for name in REFERRER_SEES:
        response = await get(client, url(fhir_clinic, READ_PATHS[name]), headers)
        assert response.status_code == 404, (name, response.text)
    for name in SEARCH_PATHS:
        response = await get(client, url(fhir_clinic, SEARCH_PATHS[name]), headers)
        assert response.json()["total"] == 0


async def test_consent_bounds_are_inclusive(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    row = await consent(rows, fhir_clinic)
    row.granted_on = row.expires_on = today()
    await rows.commit()
    response = await get(
        client, url(fhir_clinic, READ_PATHS["Patient"]), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 200


async def test_a_consent_without_a_referral_of_its_own_is_not_enough(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    referral = await rows.get(Referral, fhir_clinic.referral_id)
    assert referral is not None
    referral.archived_at = utcnow()
    await rows.commit()
    response = await get(
        client, url(fhir_clinic, READ_PATHS["Patient"]), fhir_clinic.headers("referrer")
    )
    assert response.status_code == 404


async def test_another_referrer_sees_nothing_of_the_client(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    other = ReferringProfessional(full_name="Dr. Elsewhere", discipline="primary_care")
    rows.add(other)
    await rows.flush()
    _, key = await auth_service.create_api_key(
        rows,
        ApiKeyCreate(name="elsewhere", role=Role.referrer, referring_professional_id=other.id),
        created_by=None,
    )
    await rows.commit()
    headers = {"Authorization": f"Bearer {key}"}
    for name in REFERRER_SEES:
        response = await get(client, url(fhir_clinic, READ_PATHS[name]), headers)
        assert response.status_code == 404, name


async def test_a_referrer_linked_to_no_professional_is_refused(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, settings: Settings, db: AsyncSession
) -> None:
    # only a direct database write makes such a user: the API requires the link
    user = User(
        email="unlinked@referrer.example", password_hash="-", display_name="U", role="referrer"
    )
    db.add(user)
    await db.commit()
    caller = Caller(actor_type="user", actor_id=user.id, role=Role.referrer)
    assert settings.secret_key is not None
    token = issue_access_token(caller, settings.secret_key, 5, generation=0)
    headers = {"Authorization": f"Bearer {token}"}
    for name in [*REFERRER_SEES, *SEARCH_PATHS]:
        path = READ_PATHS.get(name) or SEARCH_PATHS[name]
        response = await get(client, url(fhir_clinic, path), headers)
        assert response.status_code == 403, name


# ---- the CapabilityStatement -------------------------------------------------------------------


@pytest.mark.parametrize("role", [*Role, None])
async def test_capability_statement(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, role: Role | None
) -> None:
    headers = fhir_clinic.headers(role) if role is not None else {}
    response = await get(client, "/fhir/R4/metadata", headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    statement = response.json()
    validate(statement)
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["status"] == "active"
    assert statement["kind"] == "instance"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["format"] == ["json"]
    assert statement["implementation"]["url"] == "http://careplan.test/fhir/R4"
    [rest] = statement["rest"]
    assert rest["mode"] == "server"
    by_type = {resource["type"]: resource for resource in rest["resource"]}
    assert set(by_type) == set(READ_PATHS)
    for resource_type, resource in by_type.items():
        interactions = {item["code"] for item in resource["interaction"]}
        searchable = resource_type in ("Patient", "CarePlan", "Encounter", "Observation")
        assert interactions == ({"read", "search-type"} if searchable else {"read"})
        params = [param["name"] for param in resource.get("searchParam", [])]
        expected = {
            "Patient": ["name", "birthdate", "identifier", "_id"],
            "CarePlan": ["patient", "_id"],
            "Encounter": ["patient", "_id"],
            "Observation": ["patient", "_id"],
        }
        assert params == expected.get(resource_type, [])
        assert resource["versioning"] == "versioned"


# ---- the audit trail ---------------------------------------------------------------------------


async def audit_events(rows: AsyncSession, response: httpx.Response) -> list[AuditEvent]:
    request_id = response.headers["x-request-id"]
    found = await rows.scalars(
        select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.at)
    )
    return list(found)


@pytest.mark.parametrize("name", list(READ_PATHS))
async def test_every_read_is_audited(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, name: str
) -> None:
    response = await get(client, url(fhir_clinic, READ_PATHS[name]), fhir_clinic.headers("admin"))
    assert response.status_code == 200
    [event] = await audit_events(rows, response)
    assert event.action == "read"
    assert event.resource_type == f"fhir:{name}"
    assert str(event.resource_id) == response.json()["id"]
    assert event.actor_id == fhir_clinic.staff.key_ids[Role.admin]
    assert event.role == "admin"
    expected_client = None if name == "Practitioner" else fhir_clinic.client_id
    assert event.client_id == expected_client


@pytest.mark.parametrize("name", list(SEARCH_PATHS))
async def test_every_search_result_is_audited(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, name: str
) -> None:
    response = await get(
        client, url(fhir_clinic, SEARCH_PATHS[name]), fhir_clinic.headers("therapist")
    )
    bundle = response.json()
    events = await audit_events(rows, response)
    assert {str(event.resource_id) for event in events} == {
        entry["resource"]["id"] for entry in bundle["entry"]
    }
    assert {(event.action, event.resource_type, event.client_id) for event in events} == {
        ("read", f"fhir:{name.rstrip('?')}", fhir_clinic.client_id)
    }


async def test_a_search_without_results_is_audited_once(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    patient = uuid.uuid4()
    response = await get(
        client, f"/fhir/R4/Encounter?patient={patient}", fhir_clinic.headers("admin")
    )
    [event] = await audit_events(rows, response)
    assert (event.action, event.resource_id, event.client_id) == ("read", None, patient)


async def test_denied_reads_are_audited(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    hidden = await get(
        client,
        url(fhir_clinic, READ_PATHS["CarePlan"], other=True),
        fhir_clinic.headers("referrer"),
    )
    assert hidden.status_code == 404
    forbidden = await get(
        client, url(fhir_clinic, READ_PATHS["Goal"]), fhir_clinic.headers("front_desk")
    )
    assert forbidden.status_code == 403
    for response in (hidden, forbidden):
        [event] = await audit_events(rows, response)
        assert event.action == "denied"
        assert event.status == response.status_code


async def test_metadata_reads_no_client_data_and_is_not_audited(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    response = await get(client, "/fhir/R4/metadata", fhir_clinic.headers("admin"))
    assert await audit_events(rows, response) == []
