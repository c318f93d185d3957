"""What FHIR clients expect of the facade: OperationOutcome errors, the search parameters, HEAD,
ETag and Last-Modified, archived records gone from every answer, Observations that tell before
from after, valid strings whatever was stored, and a referrer's view cut to its summaries'."""

from __future__ import annotations

import datetime as dt
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans.models import CarePlan
from app.clients.models import Client
from app.fhir import service
from app.session_records.models import Measurement, SessionRecord
from tests.fhir.conftest import START, FhirClinic
from tests.fhir.validation import validate

BASE = "/fhir/R4"


async def fetch(
    client: httpx.AsyncClient, clinic: FhirClinic, path: str, role: str = "admin", **headers: str
) -> httpx.Response:
    url = path if path.startswith("http") else f"{BASE}/{path}"
    return await client.get(url, headers={**clinic.headers(role), **headers})


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def outcome_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    document: dict[str, Any] = response.json()
    validate(document)
    assert document["resourceType"] == "OperationOutcome"
    assert document["issue"][0]["code"] == code
    return document


# ---- errors are OperationOutcomes --------------------------------------------------------------


async def test_method_not_allowed_is_an_operation_outcome(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    response = await client.post(
        f"{BASE}/Patient/{fhir_clinic.client_id}", headers=fhir_clinic.headers("admin"), json={}
    )
    outcome_of(response, 405, "not-supported")
    assert "GET" in response.headers["allow"]


async def test_unknown_paths_are_operation_outcomes(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    outcome_of(await fetch(client, fhir_clinic, "Medication/1"), 404, "not-found")
    outcome_of(await fetch(client, fhir_clinic, "Goal"), 404, "not-found")  # no Goal search


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("?_format=xml", None),
        ("?_format=application/fhir%2Bxml", None),
        ("", "application/fhir+xml"),
        ("", "application/xml, text/xml"),
        ("", "application/fhir+json;q=0, application/xml"),
    ],
)
@pytest.mark.parametrize("path", ["metadata", "Patient/{client}", "Patient", "Encounter"])
async def test_xml_is_406(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    path: str,
    query: str,
    accept: str | None,
) -> None:
    headers = {"Accept": accept} if accept else {}
    target = path.format(client=fhir_clinic.client_id) + query
    outcome_of(await fetch(client, fhir_clinic, target, **headers), 406, "not-supported")


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("?_format=json", None),
        ("?_format=application/fhir%2Bjson", None),
        ("", "application/fhir+json"),
        ("", "application/json"),
        ("", "text/html, */*;q=0.8"),
        ("", "application/fhir+json; fhirVersion=4.0"),
    ],
)
async def test_json_is_served(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, query: str, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = await fetch(
        client, fhir_clinic, f"Patient/{fhir_clinic.client_id}{query}", **headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"


async def test_an_unexpected_failure_is_a_fatal_operation_outcome(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(service, "get_client", broken)
    response = await fetch(client, fhir_clinic, f"Patient/{fhir_clinic.client_id}")
    document = outcome_of(response, 500, "exception")
    assert document["issue"][0]["severity"] == "fatal"
    assert "went away" not in response.text


async def test_the_rest_of_the_api_keeps_problem_json(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    response = await client.get(f"/v1/clients/{uuid.uuid4()}", headers=fhir_clinic.headers("admin"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    # a path that merely starts like the facade's is not the facade
    response = await client.get("/fhir/R4x/Patient", headers=fhir_clinic.headers("admin"))
    assert response.headers["content-type"] == "application/problem+json"


def test_operation_outcome_strings_are_valid() -> None:
    from app.core.errors import ValidationFailed
    from app.fhir.errors import operation_outcome

    document = operation_outcome(ValidationFailed.field(["query", "name"], "bad \x00 value "))
    validate(document)
    assert document["issue"][0]["diagnostics"] == "query.name: bad  value"


# ---- search parameters -------------------------------------------------------------------------


async def add_client(rows: AsyncSession, given: str, family: str, born: dt.date | None) -> str:
    row = Client(given_name=given, family_name=family, date_of_birth=born)
    rows.add(row)
    await rows.commit()
    return str(row.id)


async def patient_ids(client: httpx.AsyncClient, clinic: FhirClinic, query: str) -> set[str]:
    response = await fetch(client, clinic, f"Patient?{query}")
    assert response.status_code == 200, response.text
    bundle = response.json()
    validate(bundle)
    assert bundle["total"] == len(ids(bundle))
    return set(ids(bundle))


async def test_patients_by_name(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    maria = await add_client(rows, "María", "O'Neil_%", dt.date(1990, 1, 1))
    robin = str(fhir_clinic.client_id)
    assert await patient_ids(client, fhir_clinic, "name=rob") == {robin}
    assert await patient_ids(client, fhir_clinic, "name=OKA") == {robin}
    assert await patient_ids(client, fhir_clinic, "name=Robin%20Okafor") == {robin}
    assert await patient_ids(client, fhir_clinic, "name=bin") == set()  # starts with, only
    kim = str(fhir_clinic.other_client_id)  # Kim Other
    assert await patient_ids(client, fhir_clinic, "name=o") == {robin, maria, kim}
    assert await patient_ids(client, fhir_clinic, "name=o'neil_") == {maria}
    assert await patient_ids(client, fhir_clinic, "name=O'N%25") == set()  # % is no wildcard
    assert await patient_ids(client, fhir_clinic, "name=rob&name=oka") == {robin}
    assert await patient_ids(client, fhir_clinic, "name=rob&name=kim") == set()


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("birthdate=1985-04-12", {"robin"}),
        ("birthdate=eq1985-04-12", {"robin"}),
        ("birthdate=1985-04", {"robin"}),
        ("birthdate=1985", {"robin", "jan1985"}),
        ("birthdate=1985-04-13", set()),
        ("birthdate=ne1985", {"dec1984"}),
        ("birthdate=ge1985-04-12", {"robin"}),
        ("birthdate=ge1985-04-13", set()),
        ("birthdate=gt1985-04-11", {"robin"}),
        ("birthdate=gt1985-04-12", set()),
        ("birthdate=le1984-12-31", {"dec1984"}),
        ("birthdate=le1984-12-30", set()),
        ("birthdate=lt1985-01-01", {"dec1984"}),
        ("birthdate=lt1984-12-31", set()),
        ("birthdate=gt1984", {"robin", "jan1985"}),
        ("birthdate=lt1985", {"dec1984"}),
        ("birthdate=ge1985-01-01&birthdate=le1985-01-31", {"jan1985"}),
    ],
)
async def test_patients_by_birth_date(
    client: httpx.AsyncClient,
    fhir_clinic: FhirClinic,
    rows: AsyncSession,
    query: str,
    found: set[str],
) -> None:
    names = {
        "robin": str(fhir_clinic.client_id),
        "jan1985": await add_client(rows, "Jan", "Uary", dt.date(1985, 1, 1)),
        "dec1984": await add_client(rows, "Dec", "Ember", dt.date(1984, 12, 31)),
    }
    expected = {names[name] for name in found}
    assert await patient_ids(client, fhir_clinic, query) == expected


@pytest.mark.parametrize(
    "value", ["1985-4-12", "85", "1985-13", "1985-02-30", "sa1985", "1985-04-12T10:00:00Z", ""]
)
async def test_bad_birth_dates_are_400(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, value: str
) -> None:
    outcome_of(await fetch(client, fhir_clinic, f"Patient?birthdate={value}"), 400, "invalid")


async def test_patients_by_identifier_and_id(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    robin = str(fhir_clinic.client_id)
    kim = str(fhir_clinic.other_client_id)
    resource = (await fetch(client, fhir_clinic, f"Patient/{robin}")).json()
    [identifier] = resource["identifier"]
    assert identifier == {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{robin}"}
    found = await patient_ids(client, fhir_clinic, f"identifier=urn:uuid:{robin}")
    assert found == {robin}
    both = f"identifier=urn:ietf:rfc:3986|urn:uuid:{robin}"
    assert await patient_ids(client, fhir_clinic, both) == {robin}
    assert await patient_ids(client, fhir_clinic, f"identifier=other|urn:uuid:{robin}") == set()
    assert await patient_ids(client, fhir_clinic, f"identifier={robin}") == set()
    assert await patient_ids(client, fhir_clinic, f"_id={robin}") == {robin}
    assert await patient_ids(client, fhir_clinic, f"_id={robin},{kim}") == {robin, kim}
    assert await patient_ids(client, fhir_clinic, f"_id={robin},nonsense") == {robin}
    assert await patient_ids(client, fhir_clinic, "_id=nonsense") == set()
    assert await patient_ids(client, fhir_clinic, f"_id={robin}&_id={kim}") == set()


@pytest.mark.parametrize("resource_type", ["CarePlan", "Encounter", "Observation"])
async def test_id_and_summary_count_on_every_search(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, resource_type: str
) -> None:
    everything = (await fetch(client, fhir_clinic, resource_type)).json()
    assert everything["total"] >= 2
    first = ids(everything)[0]
    one = (await fetch(client, fhir_clinic, f"{resource_type}?_id={first}")).json()
    assert ids(one) == [first]
    counted = (await fetch(client, fhir_clinic, f"{resource_type}?_summary=count")).json()
    validate(counted)
    assert counted["total"] == everything["total"]
    assert "entry" not in counted
    assert [link["relation"] for link in counted["link"]] == ["self"]
    assert "_summary=count" in counted["link"][0]["url"]


async def test_pages_follow_next_links_with_every_parameter(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    query = f"Observation?patient=Patient/{fhir_clinic.client_id}&_count=2"
    bundle = (await fetch(client, fhir_clinic, query)).json()
    seen = ids(bundle)
    while next_url := {link["relation"]: link["url"] for link in bundle["link"]}.get("next"):
        assert f"patient=Patient%2F{fhir_clinic.client_id}" in next_url
        assert "_count=2" in next_url
        bundle = (await fetch(client, fhir_clinic, next_url)).json()
        validate(bundle)
        assert len(ids(bundle)) <= 2
        seen += ids(bundle)
    assert len(seen) == len(set(seen)) == 5


async def test_unknown_parameters_are_ignored_when_lenient(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    query = f"Encounter?patient={fhir_clinic.client_id}&_sort=date&colour=red&_summary=text"
    outcome_of(await fetch(client, fhir_clinic, query), 400, "invalid")
    response = await fetch(client, fhir_clinic, query, Prefer="handling=lenient")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == 4
    [self_link] = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
    assert "colour" not in self_link
    assert "_sort" not in self_link
    assert "_summary" not in self_link
    assert f"patient={fhir_clinic.client_id}" in self_link
    strict = await fetch(client, fhir_clinic, query, Prefer="handling=strict")
    assert strict.status_code == 400


# ---- HEAD, ETag, Last-Modified -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "metadata",
        "Patient/{client}",
        "Practitioner/{therapist}",
        "ServiceRequest/{referral}",
        "CarePlan/{plan}",
        "Goal/{goal}",
        "Encounter/{session}",
        "Observation/{measurement}",
        "Patient?name=rob",
        "CarePlan?patient={client}",
        "Encounter?patient={client}",
        "Observation?patient={client}",
    ],
)
async def test_head_answers_like_get_without_a_body(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, path: str
) -> None:
    url = f"{BASE}/" + path.format(
        client=fhir_clinic.client_id,
        therapist=fhir_clinic.therapist_id,
        referral=fhir_clinic.referral_id,
        plan=fhir_clinic.plan_id,
        goal=fhir_clinic.pain_goal_id,
        session=fhir_clinic.sessions["completed"],
        measurement=fhir_clinic.measurements["pain_pre"],
    )
    headers = fhir_clinic.headers("admin")
    got = await client.get(url, headers=headers)
    head = await client.head(url, headers=headers)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "application/fhir+json"
    assert head.headers["content-length"] == str(len(got.content))
    for name in ("etag", "last-modified"):
        assert head.headers.get(name) == got.headers.get(name)
    missing = await client.head(f"{BASE}/Patient/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("Patient/{client}", Client),
        ("CarePlan/{plan}", CarePlan),
        ("Encounter/{session}", SessionRecord),
    ],
)
async def test_reads_carry_etag_and_last_modified(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession, path: str, model: Any
) -> None:
    row_id = {"Patient": fhir_clinic.client_id, "CarePlan": fhir_clinic.plan_id}.get(
        path.split("/")[0], fhir_clinic.sessions["completed"]
    )
    url = path.format(client=row_id, plan=row_id, session=row_id)
    response = await fetch(client, fhir_clinic, url)
    row = await rows.get(model, row_id)
    assert row is not None
    resource = response.json()
    assert response.headers["etag"] == f'W/"{row.version}"'
    assert resource["meta"]["versionId"] == str(row.version)
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert modified == row.updated_at.replace(microsecond=0)
    observation = await fetch(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['odi']}")
    assert observation.headers["etag"] == 'W/"1"'
    assert observation.json()["meta"]["versionId"] == "1"
    assert "last-modified" in observation.headers


# ---- Observations: before or after treatment, in time order ------------------------------------


async def test_observations_say_before_or_after_treatment(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic
) -> None:
    timing = "https://careplan.example/fhir/CodeSystem/measurement-timing"
    for name, code in [("pain_pre", "pre-treatment"), ("pain_post", "post-treatment")]:
        resource = (
            await fetch(client, fhir_clinic, f"Observation/{fhir_clinic.measurements[name]}")
        ).json()
        [coding] = resource["method"]["coding"]
        assert (coding["system"], coding["code"]) == (timing, code)
    pre = (
        await fetch(client, fhir_clinic, f"Observation/{fhir_clinic.measurements['pain_pre']}")
    ).json()
    assert pre["method"]["text"] == "Before treatment"


async def test_searches_are_in_time_order(
    client: httpx.AsyncClient, fhir_clinic: FhirClinic, rows: AsyncSession
) -> None:
    # a session created later but held earlier, with a value after treatment and one before
    early = SessionRecord(
        client_id=fhir_clinic.client_id,
        care_plan_id=fhir_clinic.plan_id,
        therapist_id=fhir_clinic.therapist_id,
        scheduled_start=START - dt.timedelta(days=3),
        scheduled_end=START - dt.timedelta(days=3) + dt.timedelta(minutes=45),
        duration_minutes=45,
        status="completed",
        session_type="therapeutic",
    )
    rows.add(early)
    await rows.flush()
    rows.add_all(
        [
            Measurement(
                session_id=early.id,
                client_id=fhir_clinic.client_id,
                position=0,
                measure="nprs",
                value=4,
                timing="post",
            ),
            Measurement(
                session_id=early.id,
                client_id=fhir_clinic.client_id,
                position=1,
                measure="nprs",
                value=7,
                timing="pre",
            ),
        ]
    )
    await rows.commit()
    for count in (50, 2):
        query = f"Encounter?patient={fhir_clinic.client_id}&_count={count}"
        starts = [e["period"]["start"] for e in await every_entry(client, fhir_clinic, query)]
        assert starts == sorted(starts)
        assert len(starts) == 5
        query = f"Observation?patient={fhir_clinic.client_id}&_count={count}"
        found = await every_entry(client, fhir_clinic, query)
        times = [dt.datetime.fromisoformat(o["effectiveDateTime"]) for o in found]
        assert times == sorted(times)
        assert [o["method"]["coding"][0]["code"] for o in found[:2]] == [
            "pre-treatment",
            "post-treatment",
        ]


async def every_entry(
    client: httpx.AsyncClient, clinic: FhirClinic, query: str, role: str = "admin"
) -> list[dict[str, Any]]:
    response = await fetch(client, clinic, query, role)
    assert response.status_code == 200, response.text
    bundle = response.json()
    found = [entry["resource"] for entry in bundle.get("entry", [])]
    while next_url := {link["relation"]: link["url"] for link in bundle["link"]}.get("next"):
        bundle = (await fetch(client, clinic, next_url, role)).json()
        found += [entry["resource"] for entry in bundle.get("entry", [])]
    return found
