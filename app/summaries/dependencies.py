"""Who may read which summary, decided once per route, and the format the caller asked for.

Clinicians (admin, therapist) read every summary; the front desk reads none (403). A referrer
reads the summary of one of its own referrals, or of a care plan linked to one, only while the
client holds an active `share_with_referrer` consent naming it; otherwise the summary answers
404 as if it did not exist (and the attempt is audited as denied). A revoked or expired consent
closes access at once: it is checked on every request.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header

from app.auth.dependencies import allow
from app.core import crud
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, Hidden
from app.core.routing import DbSession
from app.core.security import Caller, Role
from app.core.statements import Row
from app.summaries import service
from app.summaries.report import ReportFormat, negotiate

# a referrer reads the summaries of the referrals the clinic has accepted, never of one pending
SHARED_STATUSES = frozenset({"accepted", "completed"})

SummaryReader = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.referrer))]


def _referrer_of(caller: Caller) -> uuid.UUID | None:
    """The referring professional a referrer acts as; None for the clinic's staff."""
    if caller.role is not Role.referrer:
        return None
    if caller.referring_professional_id is None:
        raise Forbidden("This referrer is not linked to a referring professional")
    return caller.referring_professional_id


async def care_plan_for_summary(
    care_plan_id: uuid.UUID, db: DbSession, caller: SummaryReader
) -> Row:
    """The plan as `service.PLAN` reads it."""
    plan = await crud.row_or_404(db, service.PLAN, "care plan", plan_id=care_plan_id)
    professional_id = _referrer_of(caller)
    if professional_id is not None and not await service.plan_shared_with(
        db, plan, professional_id, utcnow().date()
    ):
        raise Hidden("No such care plan")
    return plan


async def referral_for_summary(referral_id: uuid.UUID, db: DbSession, caller: SummaryReader) -> Row:
    """The referral as `service.REFERRAL` reads it."""
    referral = await crud.row_or_404(db, service.REFERRAL, "referral", referral_id=referral_id)
    professional_id = _referrer_of(caller)
    if professional_id is not None and (
        referral["referring_professional_id"] != professional_id
        or referral["client_id"] is None
        or referral["status"] not in SHARED_STATUSES
        or not await service.client_shares_with(
            db, referral["client_id"], professional_id, utcnow().date()
        )
    ):
        raise Hidden("No such referral")
    if referral["client_id"] is None:
        raise Conflict("This referral is not linked to a client yet: there is nothing to summarise")
    return referral


async def report_format(  # async: FastAPI would run a plain function in a worker thread
    accept: Annotated[
        str | None,
        Header(
            description="`application/json` (the default, also for `*/*`), `text/html` (a "
            "printable report with a chart per goal) or `application/pdf`"
        ),
    ] = None,
) -> ReportFormat:
    return negotiate(accept)


CarePlanForSummary = Annotated[Row, Depends(care_plan_for_summary)]
ReferralForSummary = Annotated[Row, Depends(referral_for_summary)]
RequestedFormat = Annotated[ReportFormat, Depends(report_format)]
