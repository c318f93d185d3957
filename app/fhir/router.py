"""`/fhir/R4`: a read-only FHIR R4 view of the clinic, in `application/fhir+json`.

Problems (401, 403, 404, 422) are the API's usual `application/problem+json` documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.core.errors import problems
from app.core.pagination import PageParams
from app.core.routing import DbSession, TransactionalRoute
from app.core.security import Caller
from app.fhir import mapping, service
from app.fhir.dependencies import (
    AnyFhirCaller,
    CarePlanForCaller,
    ClinicalFhirCaller,
    EncounterForCaller,
    GoalForCaller,
    ObservationForCaller,
    PatientForCaller,
    PatientSearch,
    PatientSearchDep,
    PractitionerForCaller,
    ServiceRequestForCaller,
)
from app.fhir.mapping import FHIR_MEDIA_TYPE, FhirResource

router = APIRouter(prefix="/fhir/R4", route_class=TransactionalRoute, tags=["fhir"])


class FhirResponse(Response):
    media_type = FHIR_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _documented(resource_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    responses = problems()
    responses[200] = {
        "description": what,
        "content": {
            FHIR_MEDIA_TYPE: {
                "schema": {
                    "type": "object",
                    "description": f"A FHIR R4 {resource_type}",
                    "externalDocs": {
                        "url": f"https://hl7.org/fhir/R4/{resource_type.lower()}.html"
                    },
                }
            }
        },
    }
    return responses


def base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{router.prefix}"


def _read(resource: FhirResource, version: int | None = None) -> FhirResponse:
    headers = {"ETag": f'W/"{version}"'} if version is not None else None
    return FhirResponse(resource, headers=headers)


def _audit_read(
    db: AsyncSession,
    caller: Caller,
    resource_type: str,
    resource_id: uuid.UUID,
    client_id: uuid.UUID | None,
) -> None:
    audit.record(
        db, actor(caller), AuditAction.read, f"fhir:{resource_type}", resource_id, client_id
    )


# ---- capabilities ------------------------------------------------------------------------------


@router.get(
    "/metadata",
    response_class=FhirResponse,
    responses=_documented("CapabilityStatement", "What this server supports"),
    summary="The server's CapabilityStatement (needs a bearer token, like every /fhir path)",
)
async def capability_statement(request: Request, _: AnyFhirCaller) -> FhirResponse:
    statement = mapping.capability_statement(
        base_url(request), request.app.version, request.app.state.settings.clinic_name
    )
    return FhirResponse(statement)


# ---- reads -------------------------------------------------------------------------------------


@router.get(
    "/Patient/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Patient", "A client"),
    summary="Read a Patient (a client)",
)
async def read_patient(client: PatientForCaller, db: DbSession, caller: AnyFhirCaller) -> Response:
    _audit_read(db, caller, "Patient", client.id, client.id)
    return _read(mapping.patient(client), client.version)


@router.get(
    "/Practitioner/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Practitioner", "A therapist or a referring professional"),
    summary="Read a Practitioner (a therapist or a referring professional)",
)
async def read_practitioner(
    row: PractitionerForCaller, db: DbSession, caller: AnyFhirCaller
) -> Response:
    _audit_read(db, caller, "Practitioner", row.id, None)
    return _read(mapping.practitioner(row), row.version)


@router.get(
    "/ServiceRequest/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("ServiceRequest", "A referral"),
    summary="Read a ServiceRequest (a referral)",
)
async def read_service_request(
    referral: ServiceRequestForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    _audit_read(db, caller, "ServiceRequest", referral.id, referral.client_id)
    return _read(mapping.service_request(referral), referral.version)


@router.get(
    "/CarePlan/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("CarePlan", "A care plan"),
    summary="Read a CarePlan",
)
async def read_care_plan(
    source: CarePlanForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    plan = source.plan
    _audit_read(db, caller, "CarePlan", plan.id, plan.client_id)
    return _read(mapping.care_plan(source), plan.version)


@router.get(
    "/Goal/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Goal", "A goal of a care plan"),
    summary="Read a Goal",
)
async def read_goal(source: GoalForCaller, db: DbSession, caller: ClinicalFhirCaller) -> Response:
    _audit_read(db, caller, "Goal", source.goal.id, source.client_id)
    return _read(mapping.goal(source), source.goal.version)


@router.get(
    "/Encounter/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Encounter", "A session"),
    summary="Read an Encounter (a session)",
)
async def read_encounter(
    session: EncounterForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    _audit_read(db, caller, "Encounter", session.id, session.client_id)
    return _read(mapping.encounter(session), session.version)


@router.get(
    "/Observation/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Observation", "A measurement taken in a session"),
    summary="Read an Observation (a measurement)",
)
async def read_observation(
    source: ObservationForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    row = source.measurement
    _audit_read(db, caller, "Observation", row.id, row.client_id)
    return _read(mapping.observation(source))


# ---- searches ----------------------------------------------------------------------------------


def _search_url(
    request: Request, resource_type: str, search: PatientSearch, cursor: str | None
) -> str:
    params = {"patient": search.patient, "_count": str(search.count)}
    if cursor is not None:
        params["_cursor"] = cursor
    return f"{base_url(request)}/{resource_type}?{urlencode(params)}"


async def _searchset(
    request: Request,
    db: AsyncSession,
    caller: Caller,
    resource_type: str,
    search: PatientSearch,
    run: Callable[[AsyncSession, uuid.UUID, PageParams], Awaitable[service.SearchPage]],
    to_fhir: Callable[[Any], FhirResource],
    row_ids: Callable[[Any], tuple[uuid.UUID, uuid.UUID]],
) -> Response:
    who = actor(caller)
    audited = f"fhir:{resource_type}"
    found = service.SearchPage([], 0, None)
    if not search.visible:
        # a patient the caller may not see: an empty searchset, as if it did not exist
        audit.record(db, who, AuditAction.denied, audited, None, search.client_id)
    elif search.client_id is not None:
        found = await run(db, search.client_id, search.page)
        ids: Sequence[tuple[uuid.UUID, uuid.UUID]] = [row_ids(row) for row in found.rows]
        if ids:
            await audit.record_each(db, who, AuditAction.read, audited, ids)
        else:
            audit.record(db, who, AuditAction.read, audited, None, search.client_id)
    next_url = None
    if found.next_cursor is not None:
        next_url = _search_url(request, resource_type, search, found.next_cursor)
    bundle = mapping.searchset(
        base_url(request),
        [to_fhir(row) for row in found.rows],
        found.total,
        _search_url(request, resource_type, search, search.cursor),
        next_url,
    )
    return FhirResponse(bundle)


@router.get(
    "/CarePlan",
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of the patient's care plans"),
    summary="Search CarePlans by patient",
)
async def search_care_plans(
    request: Request, search: PatientSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    return await _searchset(
        request,
        db,
        caller,
        "CarePlan",
        search,
        service.search_care_plans,
        mapping.care_plan,
        lambda source: (source.plan.id, source.plan.client_id),
    )


@router.get(
    "/Encounter",
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of the patient's sessions"),
    summary="Search Encounters (sessions) by patient",
)
async def search_encounters(
    request: Request, search: PatientSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    return await _searchset(
        request,
        db,
        caller,
        "Encounter",
        search,
        service.search_sessions,
        mapping.encounter,
        lambda session: (session.id, session.client_id),
    )


@router.get(
    "/Observation",
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of the patient's measurements"),
    summary="Search Observations (measurements) by patient",
)
async def search_observations(
    request: Request, search: PatientSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    return await _searchset(
        request,
        db,
        caller,
        "Observation",
        search,
        service.search_measurements,
        mapping.observation,
        lambda source: (source.measurement.id, source.measurement.client_id),
    )
