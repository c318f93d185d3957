"""The `fhirpy` client against a live server (`careplan serve` on 127.0.0.1, a free port): it
reads, searches with every supported parameter, follows references, pages, and gets
OperationOutcome errors it understands (no invented ones)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import (
    AuthorizationError,
    ForbiddenError,
    OperationOutcome,
    ResourceNotFound,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import create_engine, make_sessionmaker
from tests.conftest import Staff
from tests.databases import migrate
from tests.fhir.conftest import FhirClinic
from tests.fhir.test_search import grow
from tests.test_cli import CAREPLAN, SERVE_READY_TIMEOUT_S, command_env, free_port


@pytest.fixture
async def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'fhirpy.db'}"
    await migrate(url)
    return url


@pytest.fixture
async def sessionmaker(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Overrides the suite's: the clinic is committed to a file the live server reads."""
    engine = create_engine(database, pool_size=1)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def server(
    database: str,
    tmp_path: Path,
    fhir_clinic: FhirClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[str]:
    async with sessionmaker() as rows:
        await grow(rows, fhir_clinic, 5)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(CAREPLAN),
            *("serve", "--host", "127.0.0.1", "--port", str(port)),
            cwd=tmp_path,
            env=command_env(database),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SERVE_READY_TIMEOUT_S
            while loop.time() < deadline and process.returncode is None:
                try:
                    if (await probe.get("/v1/health/ready", timeout=2.0)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            assert process.returncode is None, log.read_text()
        yield f"{base}/fhir/R4"
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


def fhir(server: str, staff: Staff, role: str, **headers: str) -> AsyncFHIRClient:
    token = staff.keys[next(r for r in staff.keys if r.value == role)]
    return AsyncFHIRClient(server, authorization=f"Bearer {token}", extra_headers=headers)


def outcome(error: OperationOutcome) -> dict[str, Any]:
    resource: dict[str, Any] = error.resource
    assert resource["resourceType"] == "OperationOutcome"
    return resource


async def test_fhirpy_against_a_live_server(server: str, fhir_clinic: FhirClinic) -> None:
    """One server for the three parts: starting one takes seconds."""
    await reads_searches_follows_and_pages(server, fhir_clinic)
    await gets_operation_outcomes(server, fhir_clinic)
    await as_a_referrer(server, fhir_clinic)


async def reads_searches_follows_and_pages(server: str, fhir_clinic: FhirClinic) -> None:
    client = fhir(server, fhir_clinic.staff, "admin")
    robin = str(fhir_clinic.client_id)

    # read
    patient = await client.reference("Patient", robin).to_resource()
    assert patient["birthDate"] == "1985-04-12"
    assert patient["name"][0]["family"] == "Okafor"

    # every supported search parameter
    patients = client.resources("Patient")
    assert [p.id for p in await patients.search(name="rob").fetch()] == [robin]
    assert [p.id for p in await patients.search(birthdate="1985-04").fetch()] == [robin]
    assert [p.id for p in await patients.search(birthdate__ge="1985-04-12").fetch()] == [robin]
    assert await patients.search(birthdate=["ge1986", "le1990"]).fetch() == []
    found = await patients.search(identifier=f"urn:ietf:rfc:3986|urn:uuid:{robin}").get()
    assert found.id == robin
    assert (await patients.search(_id=robin).get()).id == robin
    for resource_type in ("CarePlan", "Encounter", "Observation"):
        search = client.resources(resource_type).search(patient=robin)
        first = await search.first()
        assert first is not None
        assert (await client.resources(resource_type).search(_id=first.id).get()).id == first.id
        assert (await search.search(_summary="count").fetch_raw())["total"] >= 1

    # follow references
    plan = await client.reference("CarePlan", str(fhir_clinic.plan_id)).to_resource()
    subject = await plan["subject"].to_resource()
    assert subject.id == robin
    author = await plan["author"].to_resource()
    assert author.resourceType == "Practitioner"
    goals = [await goal.to_resource() for goal in plan["goal"]]
    assert {goal.id for goal in goals} == {
        str(fhir_clinic.pain_goal_id),
        str(fhir_clinic.odi_goal_id),
    }
    observation = await client.reference(
        "Observation", str(fhir_clinic.measurements["pain_pre"])
    ).to_resource()
    encounter = await observation["encounter"].to_resource()
    assert encounter.id == str(fhir_clinic.sessions["completed"])

    # pages: a page of 2, and every page through the next links
    observations = client.resources("Observation").search(patient=robin).limit(2)
    assert len(await observations.fetch()) == 2
    every = await observations.fetch_all()
    assert len(every) == len({o.id for o in every}) == 5 + 2 * 5
    times = [o["effectiveDateTime"] for o in every]
    assert times == sorted(times)


async def gets_operation_outcomes(server: str, fhir_clinic: FhirClinic) -> None:
    client = fhir(server, fhir_clinic.staff, "admin")
    robin = str(fhir_clinic.client_id)
    with pytest.raises(ResourceNotFound) as missing:
        await client.reference("Patient", "00000000-0000-0000-0000-000000000000").to_resource()
    assert '"resourceType":"OperationOutcome"' in str(missing.value)
    with pytest.raises(OperationOutcome) as unknown:
        await client.resources("Encounter").search(patient=robin, colour="red").fetch()
    assert outcome(unknown.value)["issue"][0]["code"] == "invalid"
    # fhirpy's count() sends a parameter of its own (_totalMethod): refused unless lenient
    with pytest.raises(OperationOutcome):
        await client.resources("Encounter").search(patient=robin).count()
    lenient = fhir(server, fhir_clinic.staff, "admin", Prefer="handling=lenient")
    assert await lenient.resources("Encounter").search(patient=robin).count() == 4 + 5
    with pytest.raises(OperationOutcome) as xml:
        await client.resources("Patient").search(_format="xml").fetch()
    assert outcome(xml.value)["issue"][0]["code"] == "not-supported"
    with pytest.raises(OperationOutcome) as not_allowed:
        await client.resource("Patient", name=[{"family": "New"}]).save()
    assert outcome(not_allowed.value)["issue"][0]["code"] == "not-supported"
    with pytest.raises(ForbiddenError) as forbidden:
        await fhir(server, fhir_clinic.staff, "front_desk").resources("Encounter").fetch()
    assert '"code":"forbidden"' in str(forbidden.value)
    stranger = AsyncFHIRClient(server, authorization="Bearer not-a-token")
    with pytest.raises(AuthorizationError) as unauthorized:
        await stranger.reference("Patient", robin).to_resource()
    assert '"code":"login"' in str(unauthorized.value)
    # the CapabilityStatement needs no token
    statement = await stranger.execute("metadata", method="get")
    assert statement["resourceType"] == "CapabilityStatement"


async def as_a_referrer(server: str, fhir_clinic: FhirClinic) -> None:
    client = fhir(server, fhir_clinic.staff, "referrer")
    [patient] = await client.resources("Patient").fetch_all()
    assert set(patient.keys()) == {"resourceType", "id", "meta", "name", "birthDate"}
    plans = await client.resources("CarePlan").fetch_all()
    assert [plan.id for plan in plans] == [str(fhir_clinic.plan_id)]
    encounters = await client.resources("Encounter").fetch_all()
    assert [e.id for e in encounters] == [str(fhir_clinic.sessions["completed"])]
    with pytest.raises(ResourceNotFound):
        await client.reference("Patient", str(fhir_clinic.other_client_id)).to_resource()
