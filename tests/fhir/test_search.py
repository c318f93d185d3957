"""Searches by patient: searchset Bundles of only that patient's resources, paged with `_count`
and `next` links, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan, Goal
from app.session_records.models import Measurement, SessionRecord
from tests.fhir.conftest import START, FhirClinic, QueryCounter
from tests.fhir.validation import validate

SEARCHES = ["CarePlan", "Encounter", "Observation"]
BASE = "http://careplan.test/fhir/R4"


async def search(
    client: httpx.AsyncClient, clinic: FhirClinic, url: str, role: str = "therapist"
) -> dict[str, Any]:
    response = await client.get(url, headers=clinic.headers(role))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    bundle: dict[str, Any] = response.json()
    validate(bundle)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
        assert entry["search"] == {"mode": "match"}
    return bundle


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle["link"]:
        if item["relation"] == relation:
            url: str = item["url"]
            return url
    return None


def expected_ids(clinic: FhirClinic, resource_type: str, own: bool = True) -> set[str]:
    if resource_type == "CarePlan":
        return {str(clinic.plan_id if own else clinic.other_plan_id)}
    if resource_type == "Encounter":
        return {str(s) for s in clinic.sessions.values()} if own else {str(clinic.other_session_id)}
    if own:
        return {str(m) for m in clinic.measurements.values()}
    return {str(clinic.other_measurement_id)}


@pytest.mark.parametrize("resource_type", SEARCHES)
async def test_search_returns_only_that_patients_resources(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str
) -> None:
    for own in (True, False):
        patient = fhir_clinic.client_id if own else fhir_clinic.other_client_id
        bundle = await search(client, fhir_clinic, f"/fhir/R4/{resource_type}?patient={patient}")
        expected = expected_ids(fhir_clinic, resource_type, own)
        assert set(ids(bundle)) == expected
        assert bundle["total"] == len(expected) == len(ids(bundle))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert resource["resourceType"] == resource_type
            assert resource["subject"] == {"reference": f"Patient/{patient}"}
        assert link(bundle, "self") == f"{BASE}/{resource_type}?patient={patient}&_count=50"
        assert link(bundle, "next") is None


@pytest.mark.parametrize("resource_type", SEARCHES)
async def test_patient_as_a_reference_or_a_bare_id(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str
) -> None:
    bare = await search(
        client, fhir_clinic, f"/fhir/R4/{resource_type}?patient={fhir_clinic.client_id}"
    )
    ref = await search(
        client, fhir_clinic, f"/fhir/R4/{resource_type}?patient=Patient/{fhir_clinic.client_id}"
    )
    assert ids(bare) == ids(ref)
    assert parse_qs(urlsplit(link(ref, "self") or "").query)["patient"] == [
        f"Patient/{fhir_clinic.client_id}"
    ]


async def test_encounters_come_in_date_order(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    bundle = await search(
        client, fhir_clinic, f"/fhir/R4/Encounter?patient={fhir_clinic.client_id}"
    )
    starts = [entry["resource"]["period"]["start"] for entry in bundle["entry"]]
    assert starts == sorted(starts)
    assert ids(bundle)[0] == str(fhir_clinic.sessions["completed"])


@pytest.mark.parametrize(("resource_type", "page_size"), [("Encounter", 3), ("Observation", 2)])
async def test_paging_with_count_and_next_links(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str, page_size: int
) -> None:
    url: str | None = f"/fhir/R4/{resource_type}?patient={fhir_clinic.client_id}&_count={page_size}"
    seen: list[str] = []
    pages = 0
    while url is not None:
        bundle = await search(client, fhir_clinic, url)
        pages += 1
        assert len(ids(bundle)) <= page_size
        assert bundle["total"] == len(expected_ids(fhir_clinic, resource_type))
        seen += ids(bundle)
        url = link(bundle, "next")
        if url is not None:
            assert url.startswith(f"{BASE}/{resource_type}?")
            assert "_cursor=" in url
            assert f"_count={page_size}" in url
    assert len(seen) == len(set(seen))
    assert set(seen) == expected_ids(fhir_clinic, resource_type)
    assert pages == -(-len(seen) // page_size) >= 2


async def test_count_zero_returns_only_the_total(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    bundle = await search(
        client, fhir_clinic, f"/fhir/R4/Observation?patient={fhir_clinic.client_id}&_count=0"
    )
    assert bundle["total"] == 5
    assert "entry" not in bundle
    assert link(bundle, "next") is None


async def test_count_is_capped(client: httpx.AsyncClient, fhir_clinic: FhirClinic) -> None:
    bundle = await search(
        client, fhir_clinic, f"/fhir/R4/Encounter?patient={fhir_clinic.client_id}&_count=100000"
    )
    assert "_count=200" in (link(bundle, "self") or "")
    assert len(ids(bundle)) == 4


@pytest.mark.parametrize("resource_type", SEARCHES)
@pytest.mark.parametrize("patient", ["unknown", "not-a-uuid", "Patient/not-a-uuid"])
async def test_unknown_patients_match_nothing(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str, patient: str
) -> None:
    if patient == "unknown":
        patient = f"Patient/{uuid.uuid4()}"
    bundle = await search(client, fhir_clinic, f"/fhir/R4/{resource_type}?patient={patient}")
    assert bundle["total"] == 0
    assert "entry" not in bundle


@pytest.mark.parametrize("resource_type", SEARCHES)
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("patient=Practitioner/{id}", "patient"),
        ("patient={id}&_count=-1", "_count"),
        ("patient={id}&_count=many", "_count"),
        ("patient={id}&_cursor=garbage", "_cursor"),
        ("patient={id}&_summary=text", "_summary"),
        ("patient={id}&_sort=date", "_sort"),
        ("patient={id}&subject={id}", "subject"),
        ("patient:missing=false", "patient:missing"),
        ("patient={id}&birthdate=1985", "birthdate"),
    ],
)
async def test_bad_search_parameters_are_400_operation_outcomes(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    resource_type: str,
    query: str,
    name: str,
) -> None:
    url = f"/fhir/R4/{resource_type}?{query.format(id=fhir_clinic.client_id)}"
    response = await client.get(url, headers=fhir_clinic.headers("admin"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    outcome = response.json()
    validate(outcome)
    [issue] = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "invalid")
    assert issue["diagnostics"].startswith(f"query.{name}: ")


# ---- a fixed number of queries -----------------------------------------------------------------


async def grow(rows: AsyncSession, clinic: FhirClinic, extra: int) -> None:
    """Adds `extra` care plans to the first client, each with a goal, a session and two
    measurements."""
    for n in range(extra):
        plan = CarePlan(
            client_id=clinic.client_id,
            title=f"Plan {n}",
            kind="sports",
            status="active",
            coordinated_care=[],
        )
        rows.add(plan)
        await rows.flush()
        goal = Goal(care_plan_id=plan.id, description="G", measure="psfs", status="active")
        start = START + dt.timedelta(days=100 + n)
        session = SessionRecord(
            client_id=clinic.client_id,
            care_plan_id=plan.id,
            therapist_id=clinic.therapist_id,
            scheduled_start=start,
            scheduled_end=start + dt.timedelta(minutes=30),
            duration_minutes=30,
            status="completed",
            session_type="sports",
        )
        rows.add_all([goal, session])
        await rows.flush()
        rows.add_all(
            [
                Measurement(
                    session_id=session.id,
                    client_id=clinic.client_id,
                    goal_id=goal.id,
                    position=i,
                    measure="psfs",
                    value=4 + i,
                    timing=timing,
                )
                for i, timing in enumerate(("pre", "post"))
            ]
        )
    await rows.commit()


@pytest.mark.parametrize("resource_type", SEARCHES)
async def test_searches_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    queries: QueryCounter,
    resource_type: str,
) -> None:
    headers = fhir_clinic.headers("therapist")
    url = f"/fhir/R4/{resource_type}?patient={fhir_clinic.client_id}"
    await grow(rows, fhir_clinic, 1)
    queries.reset()
    small = await client.get(url, headers=headers)
    few = queries.count
    small_total = small.json()["total"]

    await grow(rows, fhir_clinic, 6)
    queries.reset()
    large = await client.get(url, headers=headers)
    assert large.json()["total"] > small_total
    # the audit events of a page are one batched insert; the references of a page are checked
    # with one query per referenced type
    assert queries.count == few, queries.statements


@pytest.mark.parametrize(
    "path",
    [
        "Patient/{client}",
        "Practitioner/{professional}",
        "ServiceRequest/{referral}",
        "CarePlan/{plan}",
        "Goal/{goal}",
        "Encounter/{session}",
        "Observation/{measurement}",
    ],
)
async def test_reads_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    queries: QueryCounter,
    path: str,
) -> None:
    url = "/fhir/R4/" + path.format(
        client=fhir_clinic.client_id,
        professional=fhir_clinic.referring_professional_id,
        referral=fhir_clinic.referral_id,
        plan=fhir_clinic.plan_id,
        goal=fhir_clinic.pain_goal_id,
        session=fhir_clinic.sessions["completed"],
        measurement=fhir_clinic.measurements["pain_pre"],
    )
    role = "admin" if path.startswith("Practitioner") else "referrer"
    queries.reset()
    response = await client.get(url, headers=fhir_clinic.headers(role))
    assert response.status_code == 200, response.text
    few = queries.count
    await grow(rows, fhir_clinic, 3)
    queries.reset()
    response = await client.get(url, headers=fhir_clinic.headers(role))
    assert response.status_code == 200, response.text
    assert queries.count == few, queries.statements
