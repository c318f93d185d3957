"""Bulk export: every row of the chosen resource types as NDJSON lines, read from a server-side
cursor in batches, so memory stays flat whatever the number of rows. Shared by
`GET /v1/export` and `careplan export`. Archived rows are included: an export is a copy."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.care_plans import service as care_plans_service
from app.care_plans.models import CarePlan, Goal
from app.care_plans.schemas import CarePlanRead, GoalRead
from app.clients.models import Client, Consent, Precaution
from app.clients.schemas import ClientRead, ConsentRead, PrecautionRead
from app.core.db import utcnow
from app.core.responses import ReadModel
from app.directory.models import ReferringProfessional, Therapist
from app.directory.schemas import ReferringProfessionalRead, TherapistRead
from app.referrals.models import Referral
from app.referrals.schemas import ReferralRead
from app.session_records import service as sessions_service
from app.session_records.models import SessionRecord
from app.session_records.schemas import SessionRead

BATCH_ROWS = 500

# what a batch needs besides its rows (the referrals linked to care plans), loaded per batch
Extra = dict[uuid.UUID, Any]


async def _no_extra(_: AsyncSession, __: Sequence[Any]) -> Extra:
    return {}


async def _plan_referrals(db: AsyncSession, plans: Sequence[Any]) -> Extra:
    return dict(await care_plans_service.referral_ids_of(db, [p.id for p in plans]))


@dataclass(frozen=True)
class ExportedResource:
    """One resource type of the export: its table, and its rows as the admin reads them."""

    name: str  # as `resources=` names it, and the file `careplan export` writes
    resource_type: str  # the `resource_type` of each line, as in the audit trail
    model: Any
    read: Callable[[Any, Extra], ReadModel]
    extra: Callable[[AsyncSession, Sequence[Any]], Awaitable[Extra]] = _no_extra
    options: Callable[[Select[Any]], Select[Any]] = lambda stmt: stmt


def _today() -> dt.date:
    return utcnow().date()


RESOURCES: dict[str, ExportedResource] = {
    r.name: r
    for r in (
        ExportedResource(
            "therapists", "therapist", Therapist, lambda t, _: TherapistRead.model_validate(t)
        ),
        ExportedResource(
            "referring_professionals",
            "referring_professional",
            ReferringProfessional,
            lambda p, _: ReferringProfessionalRead.model_validate(p),
        ),
        ExportedResource("clients", "client", Client, lambda c, _: ClientRead.model_validate(c)),
        ExportedResource(
            "precautions", "precaution", Precaution, lambda p, _: PrecautionRead.of(p)
        ),
        ExportedResource("consents", "consent", Consent, lambda c, _: ConsentRead.of(c, _today())),
        ExportedResource(
            "referrals", "referral", Referral, lambda r, _: ReferralRead.model_validate(r)
        ),
        ExportedResource(
            "care_plans",
            "care_plan",
            CarePlan,
            lambda p, links: CarePlanRead.of(p, links.get(p.id, [])),
            extra=_plan_referrals,
        ),
        ExportedResource("goals", "goal", Goal, lambda g, _: GoalRead.model_validate(g)),
        ExportedResource(
            "sessions",
            "session",
            SessionRecord,
            lambda s, _: SessionRead.of(s),
            options=sessions_service.with_children,
        ),
    )
}


def parse_resources(value: str | None) -> list[ExportedResource]:
    """`clients,sessions` → their specs in the order given (all of them when not given); raises
    ValueError naming the unknown ones."""
    if value is None:
        return list(RESOURCES.values())
    names = [part.strip() for part in value.split(",")]
    unknown = [name for name in names if name not in RESOURCES]
    if unknown or not names:
        shown = ", ".join(repr(n) for n in unknown)
        raise ValueError(f"unknown resource {shown}; choose from {', '.join(RESOURCES)}")
    return [RESOURCES[name] for name in dict.fromkeys(names)]


async def export_lines(
    db: AsyncSession, resource: ExportedResource, since: dt.datetime | None = None
) -> AsyncIterator[bytes]:
    """NDJSON lines `{"resource_type", "data"}` of every row (archived ones too) changed at or
    after `since`, oldest first. Rows stream from a server-side cursor `BATCH_ROWS` at a time;
    the session's identity map holds them weakly, so a batch is freed once written and memory
    does not grow with the table."""
    model = resource.model
    stmt = select(model).order_by(model.created_at, model.id)
    if since is not None:
        stmt = stmt.where(model.updated_at >= since)
    stmt = resource.options(stmt).execution_options(yield_per=BATCH_ROWS)
    prefix = b'{"resource_type":"' + resource.resource_type.encode() + b'","data":'
    result = await db.stream_scalars(stmt)
    try:
        async for batch in result.partitions(BATCH_ROWS):
            extra = await resource.extra(db, batch)
            lines = [
                prefix + resource.read(row, extra).model_dump_json().encode() + b"}\n"
                for row in batch
            ]
            yield b"".join(lines)
    finally:
        await result.close()
