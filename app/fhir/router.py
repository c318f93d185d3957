"""`/fhir/R4`: a read-only FHIR R4 view of the clinic, in `application/fhir+json`.

Errors are `OperationOutcome`s (see `app.fhir.errors`). Every read and search also answers
HEAD; reads carry `ETag` and `Last-Modified`. What a caller sees is decided in
`app.fhir.dependencies` (and `service.visible`); every resource served is cut to what the
caller may read: references to records it cannot read (archived, or not its to see) are dropped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.core.errors import problems
from app.core.routing import DbSession, TransactionalRoute
from app.core.security import Caller
from app.fhir import mapping, service
from app.fhir.dependencies import (
    AnyFhirCaller,
    CarePlanForCaller,
    CarePlanSearchDep,
    ClinicalFhirCaller,
    EncounterForCaller,
    EncounterSearchDep,
    GoalForCaller,
    ObservationForCaller,
    ObservationSearchDep,
    PatientForCaller,
    PatientSearchDep,
    PractitionerForCaller,
    SearchRequest,
    ServiceRequestForCaller,
    reader_of,
    response_format,
)
from app.fhir.errors import PREFIX
from app.fhir.mapping import FHIR_MEDIA_TYPE, FhirResource
from app.fhir.service import Reader

Endpoint = Callable[..., Awaitable[Response]]
router = APIRouter(
    prefix=PREFIX,
    route_class=TransactionalRoute,
    tags=["fhir"],
    dependencies=[Depends(response_format)],
)


def get_and_head(path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """Registers a read or a search for GET and for HEAD (the same headers, no body); HEAD
    stays out of the OpenAPI document, which would otherwise list each operation twice."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.api_route(path, methods=["HEAD"], include_in_schema=False, **options)(endpoint)
        return router.api_route(path, methods=["GET"], **options)(endpoint)

    return register


class FhirResponse(Response):
    media_type = FHIR_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _documented(resource_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    responses = problems(400, 406)
    for status, entry in responses.items():
        responses[status] = {
            "description": entry["description"],
            "content": {FHIR_MEDIA_TYPE: {"schema": {"type": "object"}}},
        }
        responses[status]["content"][FHIR_MEDIA_TYPE]["schema"]["description"] = (
            "A FHIR R4 OperationOutcome"
        )
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


def _answer(
    request: Request, document: FhirResource, headers: dict[str, str] | None = None
) -> Response:
    """The document as fhir+json; to a HEAD, the same headers and no body."""
    body = orjson.dumps(document)
    if request.method == "HEAD":
        sized = {**(headers or {}), "Content-Length": str(len(body))}
        return Response(None, media_type=FHIR_MEDIA_TYPE, headers=sized)
    return Response(body, media_type=FHIR_MEDIA_TYPE, headers=headers)


async def _read(
    request: Request,
    db: AsyncSession,
    reader: Reader,
    resource: FhirResource,
    version: int,
    updated_at: dt.datetime,
) -> Response:
    visible = await service.visible_references(db, reader, [resource])
    headers = {
        "ETag": f'W/"{version}"',
        "Last-Modified": format_datetime(updated_at.astimezone(dt.UTC), usegmt=True),
    }
    return _answer(request, mapping.drop_references(resource, visible), headers)


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


@get_and_head(
    "/metadata",
    response_class=FhirResponse,
    responses=_documented("CapabilityStatement", "What this server supports"),
    summary="The server's CapabilityStatement (public, like every FHIR server's)",
)
async def capability_statement(request: Request) -> Response:
    statement = mapping.capability_statement(
        base_url(request), request.app.version, request.app.state.settings.clinic_name
    )
    return _answer(request, statement)


# ---- reads -------------------------------------------------------------------------------------


@get_and_head(
    "/Patient/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Patient", "A client (to a referrer: name and birth date only)"),
    summary="Read a Patient (a client)",
)
async def read_patient(
    request: Request, client: PatientForCaller, db: DbSession, caller: AnyFhirCaller
) -> Response:
    _audit_read(db, caller, "Patient", client.id, client.id)
    reader = reader_of(caller)
    resource = mapping.patient(client, name_and_birth_date_only=reader.is_referrer)
    return await _read(request, db, reader, resource, client.version, client.updated_at)


@get_and_head(
    "/Practitioner/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Practitioner", "A therapist or a referring professional"),
    summary="Read a Practitioner (a therapist or a referring professional)",
)
async def read_practitioner(
    request: Request, row: PractitionerForCaller, db: DbSession, caller: AnyFhirCaller
) -> Response:
    _audit_read(db, caller, "Practitioner", row.id, None)
    resource = mapping.practitioner(row)
    return await _read(request, db, reader_of(caller), resource, row.version, row.updated_at)


@get_and_head(
    "/ServiceRequest/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("ServiceRequest", "A referral"),
    summary="Read a ServiceRequest (a referral)",
)
async def read_service_request(
    request: Request, referral: ServiceRequestForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    _audit_read(db, caller, "ServiceRequest", referral.id, referral.client_id)
    resource = mapping.service_request(referral)
    reader = reader_of(caller)
    return await _read(request, db, reader, resource, referral.version, referral.updated_at)


@get_and_head(
    "/CarePlan/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("CarePlan", "A care plan (to a referrer: without notes)"),
    summary="Read a CarePlan",
)
async def read_care_plan(
    request: Request, source: CarePlanForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    plan = source.plan
    _audit_read(db, caller, "CarePlan", plan.id, plan.client_id)
    reader = reader_of(caller)
    resource = mapping.care_plan(source, with_notes=not reader.is_referrer)
    return await _read(request, db, reader, resource, plan.version, plan.updated_at)


@get_and_head(
    "/Goal/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Goal", "A goal of a care plan"),
    summary="Read a Goal",
)
async def read_goal(
    request: Request, source: GoalForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    goal = source.goal
    _audit_read(db, caller, "Goal", goal.id, source.client_id)
    resource = mapping.goal(source)
    return await _read(request, db, reader_of(caller), resource, goal.version, goal.updated_at)


@get_and_head(
    "/Encounter/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Encounter", "A session"),
    summary="Read an Encounter (a session)",
)
async def read_encounter(
    request: Request, session: EncounterForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    _audit_read(db, caller, "Encounter", session.id, session.client_id)
    resource = mapping.encounter(session)
    reader = reader_of(caller)
    return await _read(request, db, reader, resource, session.version, session.updated_at)


@get_and_head(
    "/Observation/{resource_id}",
    response_class=FhirResponse,
    responses=_documented("Observation", "A measurement taken in a session"),
    summary="Read an Observation (a measurement)",
)
async def read_observation(
    request: Request, source: ObservationForCaller, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    row = source.measurement
    _audit_read(db, caller, "Observation", row.id, row.client_id)
    resource = mapping.observation(source)
    reader = reader_of(caller)
    version = mapping.OBSERVATION_VERSION
    return await _read(request, db, reader, resource, version, row.created_at)


# ---- searches ----------------------------------------------------------------------------------


def _search_url(request: Request, search: SearchRequest, cursor: str | None) -> str:
    params = [(name, value) for name, value in search.honoured if name != "_count"]
    params.append(("_count", str(search.count)))
    if cursor is not None:
        params.append(("_cursor", cursor))
    return f"{base_url(request)}/{search.resource_type}?{urlencode(params)}"


async def _searchset(
    request: Request,
    db: AsyncSession,
    caller: Caller,
    search: SearchRequest,
    to_fhir: Callable[[Any], FhirResource],
    row_ids: Callable[[Any], tuple[uuid.UUID, uuid.UUID]],
) -> Response:
    who = actor(caller)
    audited = f"fhir:{search.resource_type}"
    reader, patient = search.reader, search.criteria.patient
    if (
        reader.is_referrer
        and patient
        and not await service.is_visible(db, reader, "Patient", patient)
    ):
        # a patient the referrer may not see: an empty searchset, as if it did not exist
        audit.record(db, who, AuditAction.denied, audited, None, patient)
        bundle = mapping.searchset(base_url(request), [], 0, _search_url(request, search, None))
        return _answer(request, bundle)
    found = await service.search(db, reader, search.resource_type, search.criteria, search.page)
    ids: Sequence[tuple[uuid.UUID, uuid.UUID]] = [row_ids(row) for row in found.rows]
    if ids:
        await audit.record_each(db, who, AuditAction.read, audited, ids)
    else:
        audit.record(db, who, AuditAction.read, audited, None, search.criteria.patient)
    resources = [to_fhir(row) for row in found.rows]
    visible = await service.visible_references(db, search.reader, resources)
    next_url = None
    if found.next_cursor is not None:
        next_url = _search_url(request, search, found.next_cursor)
    bundle = mapping.searchset(
        base_url(request),
        [mapping.drop_references(resource, visible) for resource in resources],
        found.total,
        _search_url(request, search, None),
        next_url,
    )
    return _answer(request, bundle)


RESULT_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "_count",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0},
        "description": f"Page size (default {mapping.DEFAULT_COUNT}, at most {mapping.MAX_COUNT}); "
        "0 returns the total alone",
    },
    {
        "name": "_summary",
        "in": "query",
        "schema": {"type": "string", "enum": ["count", "false"]},
        "description": "`count`: the total alone",
    },
    {
        "name": "_format",
        "in": "query",
        "schema": {"type": "string"},
        "description": "JSON only (`json`, `application/fhir+json`); XML is 406",
    },
    {
        "name": "_cursor",
        "in": "query",
        "schema": {"type": "string"},
        "description": "From the Bundle's `next` link",
    },
    {
        "name": "Prefer",
        "in": "header",
        "schema": {"type": "string"},
        "description": "`handling=lenient` ignores unknown parameters instead of a 400",
    },
]


def _search_parameters(resource_type: str) -> dict[str, Any]:
    """The search's query parameters for the OpenAPI document (they are parsed by hand, so
    that unknown ones can be refused as FHIR asks)."""
    params: list[dict[str, Any]] = [
        {
            "name": param.name,
            "in": "query",
            "schema": {"type": "string"},
            "description": param.documentation,
        }
        for param in mapping.SEARCH_PARAMS[resource_type]
    ]
    return {"parameters": params + RESULT_PARAMETERS}


SEARCH_NOTE = (
    " Also `_id`, `_count`, `_summary=count`; other parameters are 400 unless the request "
    "sends `Prefer: handling=lenient`."
)


@get_and_head(
    "/Patient",
    openapi_extra=_search_parameters("Patient"),
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of clients"),
    summary="Search Patients by `name`, `birthdate`, `identifier`",
    description="Oldest record first." + SEARCH_NOTE,
)
async def search_patients(
    request: Request, search: PatientSearchDep, db: DbSession, caller: AnyFhirCaller
) -> Response:
    only_name = search.reader.is_referrer
    return await _searchset(
        request,
        db,
        caller,
        search,
        lambda client: mapping.patient(client, name_and_birth_date_only=only_name),
        lambda client: (client.id, client.id),
    )


@get_and_head(
    "/CarePlan",
    openapi_extra=_search_parameters("CarePlan"),
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of care plans"),
    summary="Search CarePlans by `patient`",
    description="Oldest plan first." + SEARCH_NOTE,
)
async def search_care_plans(
    request: Request, search: CarePlanSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    with_notes = not search.reader.is_referrer
    return await _searchset(
        request,
        db,
        caller,
        search,
        lambda source: mapping.care_plan(source, with_notes=with_notes),
        lambda source: (source.plan.id, source.plan.client_id),
    )


@get_and_head(
    "/Encounter",
    openapi_extra=_search_parameters("Encounter"),
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of sessions"),
    summary="Search Encounters (sessions) by `patient`",
    description="By start, earliest first." + SEARCH_NOTE,
)
async def search_encounters(
    request: Request, search: EncounterSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    return await _searchset(
        request,
        db,
        caller,
        search,
        mapping.encounter,
        lambda session: (session.id, session.client_id),
    )


@get_and_head(
    "/Observation",
    openapi_extra=_search_parameters("Observation"),
    response_class=FhirResponse,
    responses=_documented("Bundle", "A searchset Bundle of measurements"),
    summary="Search Observations (measurements) by `patient`",
    description="By the time the value was taken, earliest first." + SEARCH_NOTE,
)
async def search_observations(
    request: Request, search: ObservationSearchDep, db: DbSession, caller: ClinicalFhirCaller
) -> Response:
    return await _searchset(
        request,
        db,
        caller,
        search,
        mapping.observation,
        lambda source: (source.measurement.id, source.measurement.client_id),
    )
