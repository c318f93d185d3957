"""What a request aimed at, read from its path: the resource type and id the path names, and the
client whose record that is, so a denied attempt is found by `GET /v1/audit-events?client_id=`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.care_plans.models import CarePlan, Goal
from app.clients.models import Client, Consent, Precaution
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord


@dataclass(frozen=True, slots=True)
class Target:
    resource_type: str | None = None
    resource_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None


NO_TARGET = Target()

# path parameter of the JSON API → (resource type, the row's id column, its client column)
_BY_PARAMETER: dict[str, tuple[str, Any, Any]] = {
    "client_id": ("client", Client.id, Client.id),
    "precaution_id": ("precaution", Precaution.id, Precaution.client_id),
    "consent_id": ("consent", Consent.id, Consent.client_id),
    "referral_id": ("referral", Referral.id, Referral.client_id),
    "care_plan_id": ("care_plan", CarePlan.id, CarePlan.client_id),
    "goal_id": ("goal", Goal.id, CarePlan.client_id),
    "session_id": ("session", SessionRecord.id, SessionRecord.client_id),
    "user_id": ("user", None, None),
    "key_id": ("api_key", None, None),
}
# the directories share one parameter name; their entries belong to no client
_DIRECTORIES = {"therapists": "therapist", "referring-professionals": "referring_professional"}
# FHIR type in `/fhir/R4/<Type>/{resource_id}` → (id column, client column)
_FHIR: dict[str, tuple[Any, Any]] = {
    "Patient": (Client.id, Client.id),
    "ServiceRequest": (Referral.id, Referral.client_id),
    "CarePlan": (CarePlan.id, CarePlan.client_id),
    "Goal": (Goal.id, CarePlan.client_id),
    "Encounter": (SessionRecord.id, SessionRecord.client_id),
    "Observation": (Measurement.id, Measurement.client_id),
    "Practitioner": (None, None),
}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _aim(route_path: str, params: dict[str, Any]) -> tuple[str, uuid.UUID | None, Any, Any]:
    """(resource type, id, id column, client column) of the last resource the path names."""
    segments = route_path.strip("/").split("/")
    for position in range(len(segments) - 1, -1, -1):
        segment = segments[position]
        if not (segment.startswith("{") and segment.endswith("}")):
            continue
        name = segment[1:-1]
        rid = _uuid(params.get(name))
        before = segments[position - 1] if position else ""
        if segments[0] == "fhir" and before in _FHIR:
            id_column, client_column = _FHIR[before]
            return f"fhir:{before}", rid, id_column, client_column
        if name in _BY_PARAMETER:
            resource_type, id_column, client_column = _BY_PARAMETER[name]
            return resource_type, rid, id_column, client_column
        if before in _DIRECTORIES:
            return _DIRECTORIES[before], rid, None, None
        return name.removesuffix("_id"), rid, None, None
    return "", None, None, None


async def target_of(db: AsyncSession, route_path: str | None, params: dict[str, Any]) -> Target:
    """The resource (and its client) that a request on `route_path` with these path parameters
    aims at; archived rows count, a row that does not exist names no client."""
    if not route_path:
        return NO_TARGET
    resource_type, rid, id_column, client_column = _aim(route_path, params)
    if not resource_type:
        return NO_TARGET
    client_id: uuid.UUID | None = None
    if rid is not None and isinstance(client_column, InstrumentedAttribute):
        stmt = select(client_column).where(id_column == rid)
        if client_column is CarePlan.client_id and id_column is not CarePlan.id:
            stmt = stmt.join_from(Goal, CarePlan, Goal.care_plan_id == CarePlan.id)
        client_id = (await db.execute(stmt)).scalar_one_or_none()
    return Target(resource_type, rid, client_id)
