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


class GoalProgress(BaseModel):
    id: uuid.UUID
    description: str
    measure: str
    unit: str | None
    baseline_value: float | None
    target_value: float | None
    latest_value: float | None = Field(
        description="The goal's newest measurement over completed sessions (by the session's "
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


class CarePlanSummary(BaseModel):
    """Progress of one care plan: completed sessions only, archived ones left out."""

    care_plan_id: uuid.UUID
    title: str
    kind: str
    status: str
    client: SummaryClient
    period: Period
    sessions: SessionCounts
    goals: list[GoalProgress]
    measures: list[MeasureSeries] = Field(
        description="Every measurement of the completed sessions, grouped by measure (in the "
        "order each measure was first recorded)"
    )
    techniques: dict[str, int] = Field(
        description="Each technique and the number of completed sessions that used it"
    )
    latest_assessment: str | None = Field(
        description="The SOAP assessment of the newest completed session that has one"
    )
    latest_plan: str | None = Field(
        description="The SOAP plan of the newest completed session that has one"
    )
    adverse_events: list[AdverseEvent]
    generated_at: dt.datetime


class ReferralSummary(BaseModel):
    """The summaries of the non-archived care plans linked to a referral."""

    referral_id: uuid.UUID
    referring_professional_id: uuid.UUID
    client: SummaryClient
    care_plans: list[CarePlanSummary]
