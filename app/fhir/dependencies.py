"""Who may read what on the FHIR facade, and the parsing of what a request asks for.

Access is decided once per resource type, by `service.visible` (a SQL condition used alike by
reads, searches and the references a resource carries):

* `admin` and `therapist` read every record that is not archived and belongs to no archived
  client.
* `front_desk` reads Patient and Practitioner (demographics and the directories) and nothing
  clinical: every other resource type, and every other search, is 403.
* `referrer` sees exactly what its summaries disclose, only while the client holds an active
  `share_with_referrer` consent naming it (the one rule of `app.clients.service`): its own
  `accepted` or `completed` referrals' ServiceRequest, the CarePlans linked to them (without
  notes), their Goals, the Encounters and Observations of their *signed* sessions, and the
  Patient with name and birth date only. Everything else answers 404, as if it did not exist.

`metadata` (the CapabilityStatement) needs no token, as FHIR clients expect.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from app.auth.dependencies import allow
from app.clients.models import Client
from app.core.db import utcnow
from app.core.errors import Forbidden, Hidden, NotAcceptable, NotFound, ValidationFailed
from app.core.pagination import PageParams, decode_cursor
from app.core.routing import DbSession
from app.core.security import Caller, Role
from app.directory.models import ReferringProfessional, Therapist
from app.fhir import service
from app.fhir.errors import BadRequest
from app.fhir.mapping import (
    DEFAULT_COUNT,
    FHIR_MEDIA_TYPE,
    MAX_COUNT,
    SEARCH_PARAMS,
    URI_SYSTEM,
    CarePlanSource,
    GoalSource,
    ObservationSource,
)
from app.fhir.service import Criteria, DateBound, Reader
from app.referrals.models import Referral
from app.session_records.models import SessionRecord

AnyFhirCaller = Annotated[
    Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk, Role.referrer))
]
ClinicalFhirCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.referrer))]
ResourceId = Annotated[str, Path(description="The resource's logical id (a UUID)")]


def reader_of(caller: Caller) -> Reader:
    """The eyes a caller reads with: a referrer as its referring professional, staff as staff."""
    if caller.role is not Role.referrer:
        return Reader(None, utcnow().date())
    if caller.referring_professional_id is None:
        raise Forbidden("This referrer is not linked to a referring professional")
    return Reader(caller.referring_professional_id, utcnow().date())


def _row_id(resource_id: str, resource_type: str) -> uuid.UUID:
    """A FHIR id that is not one of our UUIDs names nothing: 404, not a validation error."""
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        raise NotFound(f"No such {resource_type}") from None


async def _require_visible(
    db: DbSession, reader: Reader, resource_type: str, row_id: uuid.UUID
) -> None:
    """404 for a row the reader may not see: audited as denied when it exists but is not the
    referrer's to see, answered like a missing one otherwise."""
    if not await service.is_visible(db, reader, resource_type, row_id):
        if reader.is_referrer:
            raise Hidden(f"No such {resource_type}")
        raise NotFound(f"No such {resource_type}")


# ---- path resources ----------------------------------------------------------------------------


async def patient_for_caller(
    resource_id: ResourceId, db: DbSession, caller: AnyFhirCaller
) -> Client:
    client = await service.get_client(db, _row_id(resource_id, "Patient"))
    if client is None:
        raise NotFound("No such Patient")
    await _require_visible(db, reader_of(caller), "Patient", client.id)
    return client


async def practitioner_for_caller(
    resource_id: ResourceId, db: DbSession, caller: AnyFhirCaller
) -> Therapist | ReferringProfessional:
    row = await service.get_practitioner(db, _row_id(resource_id, "Practitioner"))
    if row is None:
        raise NotFound("No such Practitioner")
    await _require_visible(db, reader_of(caller), "Practitioner", row.id)
    return row


async def service_request_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> Referral:
    referral = await service.get_referral(db, _row_id(resource_id, "ServiceRequest"))
    if referral is None:
        raise NotFound("No such ServiceRequest")
    await _require_visible(db, reader_of(caller), "ServiceRequest", referral.id)
    if referral.client_id is None:  # no Patient to be the subject until the clinic links one
        raise NotFound("No such ServiceRequest")
    return referral


async def care_plan_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> CarePlanSource:
    source = await service.get_care_plan(db, _row_id(resource_id, "CarePlan"))
    if source is None:
        raise NotFound("No such CarePlan")
    await _require_visible(db, reader_of(caller), "CarePlan", source.plan.id)
    return source


async def goal_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> GoalSource:
    source = await service.get_goal(db, _row_id(resource_id, "Goal"))
    if source is None:
        raise NotFound("No such Goal")
    await _require_visible(db, reader_of(caller), "Goal", source.goal.id)
    return source


async def encounter_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> SessionRecord:
    session = await service.get_session(db, _row_id(resource_id, "Encounter"))
    if session is None:
        raise NotFound("No such Encounter")
    await _require_visible(db, reader_of(caller), "Encounter", session.id)
    return session


async def observation_for_caller(
    resource_id: ResourceId, db: DbSession, caller: ClinicalFhirCaller
) -> ObservationSource:
    source = await service.get_measurement(db, _row_id(resource_id, "Observation"))
    if source is None:
        raise NotFound("No such Observation")
    await _require_visible(db, reader_of(caller), "Observation", source.measurement.id)
    return source


PatientForCaller = Annotated[Client, Depends(patient_for_caller)]
PractitionerForCaller = Annotated[
    Therapist | ReferringProfessional, Depends(practitioner_for_caller)
]
ServiceRequestForCaller = Annotated[Referral, Depends(service_request_for_caller)]
CarePlanForCaller = Annotated[CarePlanSource, Depends(care_plan_for_caller)]
GoalForCaller = Annotated[GoalSource, Depends(goal_for_caller)]
EncounterForCaller = Annotated[SessionRecord, Depends(encounter_for_caller)]
ObservationForCaller = Annotated[ObservationSource, Depends(observation_for_caller)]


# ---- formats -----------------------------------------------------------------------------------

_JSON_FORMATS = frozenset(
    {"json", "application/json", FHIR_MEDIA_TYPE, "application/json+fhir", "*/*", "application/*"}
)


def _wants_json(media_range: str) -> bool:
    media_type, _, params = media_range.partition(";")
    q = re.search(r"(?:^|;)\s*q\s*=\s*([0-9.]+)", params)
    if q is not None:
        try:
            if float(q.group(1)) == 0:
                return False
        except ValueError:
            return False
    return media_type.strip().lower() in _JSON_FORMATS


def response_format(request: Request) -> None:
    """JSON is the only format: `_format` or an `Accept` that rules JSON out (XML) is 406."""
    for value in request.query_params.getlist("_format"):
        if not _wants_json(value):
            raise NotAcceptable(f"Only JSON is served ({FHIR_MEDIA_TYPE}), not {value!r}")
    accept = request.headers.get("accept")
    if accept and accept.strip() and not any(_wants_json(part) for part in accept.split(",")):
        raise NotAcceptable(f"Only JSON is served ({FHIR_MEDIA_TYPE}); Accept: {accept}")


# ---- searches ----------------------------------------------------------------------------------

# parameters every search takes besides its search parameters (`_cursor`: our next links')
RESULT_PARAMS = frozenset({"_count", "_summary", "_format", "_cursor"})
_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le)?(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search as understood: who reads, what it asks for, the page, and the parameters that
    were honoured (for the Bundle's self and next links; ignored ones are not echoed)."""

    resource_type: str
    reader: Reader
    criteria: Criteria
    count: int
    summary_count: bool
    page: PageParams
    honoured: list[tuple[str, str]]


def lenient(request: Request) -> bool:
    """`Prefer: handling=lenient`: unknown parameters are ignored rather than refused."""
    prefer = ",".join(request.headers.getlist("prefer")).replace(" ", "").lower()
    return "handling=lenient" in prefer.replace(";", ",").split(",")


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(f"{name}: {message}", errors=[{"loc": ["query", name], "msg": message}])


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def parse_patient(value: str) -> uuid.UUID | None:
    """`Patient/<id>`, a full URL ending in it, or a bare `<id>` → the client id; None for an id
    no client can have. A reference to another resource type is refused."""
    resource_type, _, rest = value.rpartition("/")
    if resource_type and resource_type.rsplit("/", 1)[-1] != "Patient":
        raise _bad("patient", "expected Patient/<id> or the patient's id")
    return _uuid_or_none(rest)


def parse_birthdate(value: str) -> DateBound:
    match = _DATE.match(value.strip())
    if match is None:
        raise _bad("birthdate", "expected [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]]")
    prefix, year, month, day = match.groups()
    try:
        if day is not None:
            first = last = dt.date(int(year), int(month), int(day))
        elif month is not None:
            first = dt.date(int(year), int(month), 1)
            following = dt.date(int(year) + (int(month) == 12), int(month) % 12 + 1, 1)
            last = following - dt.timedelta(days=1)
        else:
            first, last = dt.date(int(year), 1, 1), dt.date(int(year), 12, 31)
    except (ValueError, OverflowError):
        raise _bad("birthdate", f"{value!r} is not a date") from None
    return DateBound(prefix or "eq", first, last)


def parse_identifier(value: str) -> uuid.UUID | None:
    """`[system|]urn:uuid:<id>` → the client it names; None when it can name no client."""
    system, bar, code = value.partition("|")
    if not bar:
        system, code = "", value
    if system and system != URI_SYSTEM:
        return None
    if not code.startswith("urn:uuid:"):
        return None
    return _uuid_or_none(code.removeprefix("urn:uuid:"))


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise _bad("_count", "expected a whole number from 0") from None
    if count < 0:
        raise _bad("_count", "expected a whole number from 0")
    return min(count, MAX_COUNT)


def parse_search(request: Request, resource_type: str, reader: Reader) -> SearchRequest:
    """The search the query string asks for; any parameter (or modifier) the facade does not
    support is 400, unless the request prefers lenient handling, which ignores it."""
    supported = {param.name for param in SEARCH_PARAMS[resource_type]}
    strict = not lenient(request)
    ids: list[uuid.UUID] | None = None
    patients: set[uuid.UUID | None] = set()
    names: list[str] = []
    birthdates: list[DateBound] = []
    nothing = False
    count = DEFAULT_COUNT
    summary_count = False
    after = None
    honoured: list[tuple[str, str]] = []
    for name, value in request.query_params.multi_items():
        if name not in supported and name not in RESULT_PARAMS:
            if strict:
                raise _bad(name, f"{resource_type} cannot be searched by {name!r}")
            continue
        if name == "_summary":
            if value not in ("count", "false"):
                if strict:
                    raise _bad(name, "only _summary=count (or false) is supported")
                continue
            summary_count = value == "count"
        elif name == "_count":
            count = _count(value)
        elif name == "_format":
            pass  # checked by `response_format`
        elif name == "_cursor":
            try:
                after = decode_cursor(value)
            except ValidationFailed:
                raise _bad(name, "not a cursor from a next link of this server") from None
            continue  # the self and next links carry their own cursor
        elif name == "_id":
            wanted = {_uuid_or_none(part) for part in value.split(",")}
            found = {row_id for row_id in wanted if row_id is not None}
            ids = sorted(found if ids is None else found & set(ids))
        elif name == "patient":
            patients.add(parse_patient(value))
        elif name == "identifier":
            patients.add(parse_identifier(value))
        elif name == "name":
            text = value.strip()
            if not text or len(text) > NAME_MAX or any(ord(c) < 32 for c in text):
                raise _bad(name, f"expected 1 to {NAME_MAX} printable characters")
            names.append(text)
        elif name == "birthdate":
            birthdates.append(parse_birthdate(value))
        honoured.append((name, value))
    patient = None
    if len(patients) > 1 or None in patients:
        nothing = True  # two different patients at once, or an id no patient has
    elif patients:
        patient = next(iter(patients))
    if ids is not None and not ids:
        nothing = True
    criteria = Criteria(
        ids=tuple(ids) if ids is not None else None,
        patient=patient,
        names=tuple(names),
        birthdates=tuple(birthdates),
        matches_nothing=nothing,
    )
    limit = 0 if summary_count else count
    page = PageParams(limit=limit, after=after, updated_since=None)
    return SearchRequest(resource_type, reader, criteria, count, summary_count, page, honoured)


async def patient_search(request: Request, caller: AnyFhirCaller) -> SearchRequest:
    return parse_search(request, "Patient", reader_of(caller))


async def care_plan_search(request: Request, caller: ClinicalFhirCaller) -> SearchRequest:
    return parse_search(request, "CarePlan", reader_of(caller))


async def encounter_search(request: Request, caller: ClinicalFhirCaller) -> SearchRequest:
    return parse_search(request, "Encounter", reader_of(caller))


async def observation_search(request: Request, caller: ClinicalFhirCaller) -> SearchRequest:
    return parse_search(request, "Observation", reader_of(caller))


PatientSearchDep = Annotated[SearchRequest, Depends(patient_search)]
CarePlanSearchDep = Annotated[SearchRequest, Depends(care_plan_search)]
EncounterSearchDep = Annotated[SearchRequest, Depends(encounter_search)]
ObservationSearchDep = Annotated[SearchRequest, Depends(observation_search)]
