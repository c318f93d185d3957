"""`/v1/care-plans/{id}/summary` and `/v1/referrals/{id}/summary`: progress summaries for the
practitioners who referred the client, as JSON, a printable HTML page or a PDF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor
from app.core.db import utcnow
from app.core.errors import PROBLEM_MEDIA_TYPE, Problem, problems
from app.core.responses import render
from app.core.routing import DbSession, TransactionalRoute
from app.core.security import Caller, Role
from app.summaries import service
from app.summaries.dependencies import (
    CarePlanForSummary,
    ReferralForSummary,
    RequestedFormat,
    SummaryReader,
)
from app.summaries.report import ReportFormat, ReportHeading, render_html, render_pdf
from app.summaries.schemas import CarePlanSummary, ReferralSummary
from app.summaries.service import PlanProgress

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
CARE_PLAN_SUMMARY = "care_plan_summary"
REFERRAL_SUMMARY = "referral_summary"

RESPONSES: dict[int | str, dict[str, Any]] = {
    **problems(),
    200: {
        "description": "The summary, in the format the `Accept` header asks for",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    406: {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
        "description": "The `Accept` header names none of JSON, HTML or PDF",
    },
}
ACCESS = (
    " Admins and therapists read every summary; the front desk none (403). A referrer reads "
    "it only for its own referrals, and only while the client holds an active "
    "`share_with_referrer` consent naming it; otherwise 404."
)


async def _respond(
    body: BaseModel,
    plans: Sequence[PlanProgress],
    heading: ReportHeading,
    report_format: ReportFormat,
    caller: Caller,
    filename: str,
) -> Response:
    # clinical data: never kept by a shared cache or the browser's
    headers = {"Vary": "Accept", "Cache-Control": "no-store"}
    if report_format is ReportFormat.html:
        # the page needs nothing but its own inline styles: anything else is refused
        headers["Content-Security-Policy"] = REPORT_CSP
        page = await run_in_threadpool(render_html, heading, plans)
        return HTMLResponse(page, headers=headers)
    if report_format is ReportFormat.pdf:
        document = await run_in_threadpool(render_pdf, heading, plans)
        headers["Content-Disposition"] = f'inline; filename="{filename}.pdf"'
        return Response(document, media_type=ReportFormat.pdf.value, headers=headers)
    return render(body, caller, headers=headers)


@router.get(
    "/care-plans/{care_plan_id}/summary",
    response_model=CarePlanSummary,
    tags=["summaries"],
    responses=RESPONSES,
    summary="A care plan's progress: sessions, goals, measurements, techniques, adverse events",
    description="Signed notes of completed sessions only; never the SOAP subjective or "
    "objective text." + ACCESS,
)
async def get_care_plan_summary(
    plan: CarePlanForSummary,
    report_format: RequestedFormat,
    request: Request,
    db: DbSession,
    caller: SummaryReader,
) -> Response:
    progress = await service.care_plan_summary(
        db, plan, utcnow(), notes=report_format is not ReportFormat.json
    )
    audit.record(
        db, actor(caller), AuditAction.read, CARE_PLAN_SUMMARY, plan["id"], plan["client_id"]
    )
    summary = progress.summary
    heading = ReportHeading(
        clinic_name=request.app.state.settings.clinic_name,
        title="Care plan progress summary",
        client=summary.client,
        generated_at=summary.generated_at,
        shared_under_consent=caller.role is Role.referrer,
    )
    return await _respond(
        summary, [progress], heading, report_format, caller, f"care-plan-summary-{plan['id']}"
    )


@router.get(
    "/referrals/{referral_id}/summary",
    response_model=ReferralSummary,
    tags=["summaries"],
    responses=RESPONSES,
    summary="The progress of every care plan linked to a referral",
    description="The summaries of the referral's non-archived care plans, oldest first." + ACCESS,
)
async def get_referral_summary(
    referral: ReferralForSummary,
    report_format: RequestedFormat,
    request: Request,
    db: DbSession,
    caller: SummaryReader,
) -> Response:
    now = utcnow()
    progress = await service.referral_summary(
        db, referral, now, notes=report_format is not ReportFormat.json
    )
    audit.record(
        db,
        actor(caller),
        AuditAction.read,
        REFERRAL_SUMMARY,
        referral["id"],
        referral["client_id"],
    )
    prepared_for = None
    if report_format is not ReportFormat.json:
        prepared_for = await service.referring_professional_name(
            db, referral["referring_professional_id"]
        )
    heading = ReportHeading(
        clinic_name=request.app.state.settings.clinic_name,
        title="Referral progress summary",
        client=progress.summary.client,
        generated_at=now,
        referral_id=referral["id"],
        prepared_for=prepared_for,
        shared_under_consent=caller.role is Role.referrer,
    )
    return await _respond(
        progress.summary,
        progress.plans,
        heading,
        report_format,
        caller,
        f"referral-summary-{referral['id']}",
    )
