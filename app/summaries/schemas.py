"""The summaries sent to referring practitioners: the minimum necessary, never the raw note."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field


class SummaryClient(BaseModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: dt.date | None


class Period(BaseModel):
    start: dt.date | None = Field(description="The plan's `start_date`")
    end: dt.date | None = Field(description="The plan's `end_date`")


class SessionCounts(BaseModel):
    planned: int | None = Field(description="The plan's `planned_sessions`")
    completed: int
    cancelled: int
    no_show: int
    upcoming: int = Field(description="Scheduled sessions that have not started yet")
    awaiting_signature: int = Field(
        description="Completed sessions whose note is not signed yet: they feed nothing else"
    )


class GoalProgress(BaseModel):
    id: uuid.UUID
    description: str
    measure: str
    unit: str | None = Field(description="The goal's own unit, or its measure's")
    baseline_value: float | None
    target_value: float | None
    latest_value: float | None = Field(
        description="The goal's newest measurement over signed notes (by the session's "
        "`scheduled_start`, `post` after `pre` within a session)"
    )
    latest_at: dt.datetime | None = Field(
        description="`scheduled_start` of the session of `latest_value`"
    )
    progress_percent: float | None = Field(
        description="100 × (latest − baseline) / (target − baseline), rounded to one decimal "
        "(halves away from zero); negative when the measure moved away from the target, over "
        "100 past it. Null without a measurement, baseline or target, or when the target "
        "equals the baseline."
    )
    minimal_important_change: float | None = Field(
        description="The smallest change a client notices as important: NPRS 2, ODI 10, RMDQ 5, "
        "PSFS 2 points; the goal's own `mcid` for range of motion and custom measures"
    )
    clinically_important: bool | None = Field(
        description="Whether the change from baseline to latest reaches the minimal important "
        "change in the goal's direction (towards its target; lower is better for NPRS, ODI "
        "and RMDQ, higher for PSFS and range of motion). Null without a baseline, a latest "
        "value or a minimal important change"
    )
    lasting_change: float | None = Field(
        description="The latest pre-session value minus the first: what held between visits. "
        "Null with fewer than two sessions measured before treatment"
    )
    immediate_change: float | None = Field(
        description="The mean of post − pre within each signed session measured both before and "
        "after treatment: the relief of the visit itself. Null without such a session"
    )
    status: str


class MeasurePoint(BaseModel):
    at: dt.datetime = Field(description="`scheduled_start` of the session")
    value: float
    timing: Literal["pre", "post"]


class MeasureSeries(BaseModel):
    measure: str
    points: list[MeasurePoint] = Field(
        description="Oldest session first, `pre` before `post` within a session"
    )


class AdverseEvent(BaseModel):
    session_id: uuid.UUID
    date: dt.date = Field(description="The session's date (UTC)")
    description: str


class SummaryTherapist(BaseModel):
    id: uuid.UUID
    full_name: str
    credentials: list[str]


class SummaryProfessional(BaseModel):
    id: uuid.UUID
    full_name: str
    discipline: str


class SummaryReferral(BaseModel):
    id: uuid.UUID
    referring_professional: SummaryProfessional
    reason: str | None
    diagnosis_codes: list[str]
    diagnosis_text: str | None
    authorized_sessions: int | None
    sessions_used: int = Field(
        description="Completed sessions of the care plans that answer this referral"
    )
    valid_until: dt.date | None


class SummaryPrecaution(BaseModel):
    """An active precaution of the client, without its free-text description."""

    category: str
    severity: str
    body_regions: list[str]
    cleared_on: dt.date | None
    cleared_by: SummaryProfessional | None = Field(
        description="The referring professional who gave the clearance"
    )


class CarePlanSummary(BaseModel):
    """Progress of one care plan: signed notes of completed sessions only, archived ones left
    out."""

    care_plan_id: uuid.UUID
    title: str
    kind: str
    status: str
    client: SummaryClient
    therapist: SummaryTherapist | None = Field(description="The plan's primary therapist")
    referrals: list[SummaryReferral] = Field(
        description="The non-archived referrals this plan answers"
    )
    precautions: list[SummaryPrecaution] = Field(description="The client's active precautions")
    period: Period
    sessions: SessionCounts
    goals: list[GoalProgress]
    measures: list[MeasureSeries] = Field(
        description="Every measurement of the signed notes, grouped by measure (in the "
        "order each measure was first recorded)"
    )
    techniques: dict[str, int] = Field(
        description="Each technique and the number of signed notes that used it"
    )
    latest_assessment: str | None = Field(
        description="The SOAP assessment of the newest signed note that has one"
    )
    latest_plan: str | None = Field(
        description="The SOAP plan of the newest signed note that has one"
    )
    adverse_events: list[AdverseEvent]
    generated_at: dt.datetime


class ReferralSummary(BaseModel):
    """The summaries of the non-archived care plans linked to a referral."""

    referral_id: uuid.UUID
    referring_professional_id: uuid.UUID
    client: SummaryClient
    care_plans: list[CarePlanSummary]
