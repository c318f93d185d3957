from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import measures
from app.core.concurrency import MergePatch
from app.core.fields import (
    Date,
    Description,
    Label,
    LongText,
    ShortText,
    StrictFloat,
    StrictInt,
)
from app.core.responses import ClinicalReadModel, ReadModel
from app.directory.schemas import Discipline


class CarePlanKind(StrEnum):
    therapeutic = "therapeutic"
    rehabilitation = "rehabilitation"
    sports = "sports"
    oncology_support = "oncology_support"
    prenatal = "prenatal"
    mental_health_support = "mental_health_support"
    wellness = "wellness"
    relaxation = "relaxation"


class CarePlanStatus(StrEnum):
    """FHIR CarePlan's statuses."""

    draft = "draft"
    active = "active"
    on_hold = "on_hold"
    completed = "completed"
    revoked = "revoked"
    entered_in_error = "entered_in_error"


class Measure(StrEnum):
    nprs = "nprs"
    odi = "odi"
    rmdq = "rmdq"
    psfs = "psfs"
    rom = "rom"
    custom = "custom"


class GoalStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    achieved = "achieved"
    not_achieved = "not_achieved"
    cancelled = "cancelled"


# The valid range of each measure, both ends included (None: no fixed range), from the one
# table of measures.
MEASURE_RANGES: dict[str, tuple[float, float] | None] = {
    code: info.range for code, info in measures.MEASURES.items()
}
check_measure_value = measures.check_value


# ---- care plans ------------------------------------------------------------------------------

Title = ShortText
PlannedSessions = Annotated[StrictInt, Field(ge=1, le=1000)]
SessionsPerWeek = Annotated[StrictFloat, Field(gt=0, le=14, allow_inf_nan=False)]
ReferralIds = Annotated[
    list[uuid.UUID],
    Field(max_length=50, description="Referrals of the same client that this plan answers"),
]


class CoordinatedCare(BaseModel):
    """Another part of the client's larger treatment plan, e.g. physical therapy twice a week."""

    model_config = ConfigDict(extra="forbid")

    referring_professional_id: uuid.UUID | None = None
    discipline: Discipline
    description: Description | None = None


CoordinatedCareList = Annotated[list[CoordinatedCare], Field(max_length=20)]


class CoordinatedCareRead(BaseModel):
    """As stored (output is not input: never refused on the way out)."""

    referring_professional_id: uuid.UUID | None = None
    discipline: str
    description: str | None = None


def _unique(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(ids))


class CarePlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    referral_ids: ReferralIds = Field(default_factory=list)
    primary_therapist_id: uuid.UUID | None = None
    title: Title
    kind: CarePlanKind
    status: CarePlanStatus = CarePlanStatus.draft
    start_date: Date | None = None
    end_date: Date | None = Field(default=None, description="Not before start_date")
    planned_sessions: PlannedSessions | None = None
    sessions_per_week: SessionsPerWeek | None = None
    coordinated_care: CoordinatedCareList = Field(default_factory=list)
    notes: LongText | None = None

    @model_validator(mode="after")
    def _unique_referrals(self) -> CarePlanCreate:
        self.referral_ids = _unique(self.referral_ids)
        return self


class CarePlanUpdate(MergePatch):
    """`referral_ids` and `coordinated_care` are replaced whole. The client never changes."""

    not_null = frozenset({"referral_ids", "title", "kind", "status", "coordinated_care"})

    referral_ids: ReferralIds | None = None
    primary_therapist_id: uuid.UUID | None = None
    title: Title | None = None
    kind: CarePlanKind | None = None
    status: CarePlanStatus | None = Field(
        default=None,
        description="draft → active | revoked; active → on_hold | completed | revoked; "
        "on_hold → active | completed | revoked; any → entered_in_error",
    )
    start_date: Date | None = None
    end_date: Date | None = Field(default=None, description="Not before start_date")
    planned_sessions: PlannedSessions | None = None
    sessions_per_week: SessionsPerWeek | None = None
    coordinated_care: CoordinatedCareList | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _unique_referrals(self) -> CarePlanUpdate:
        if self.referral_ids is not None:
            self.referral_ids = _unique(self.referral_ids)
        return self


class CarePlanRead(ClinicalReadModel):
    clinical_fields: ClassVar[frozenset[str]] = frozenset({"notes", "coordinated_care"})

    id: uuid.UUID
    client_id: uuid.UUID
    referral_ids: list[uuid.UUID]
    primary_therapist_id: uuid.UUID | None
    title: str
    kind: CarePlanKind
    status: CarePlanStatus
    start_date: dt.date | None
    end_date: dt.date | None
    planned_sessions: int | None
    sessions_per_week: float | None
    coordinated_care: list[CoordinatedCareRead]
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, row: object, referral_ids: list[uuid.UUID]) -> CarePlanRead:
        data: dict[str, Any] = {
            name: getattr(row, name) for name in cls.model_fields if name != "referral_ids"
        }
        return cls.model_validate({**data, "referral_ids": referral_ids})


# ---- goals -----------------------------------------------------------------------------------

GoalDescription = Description
MeasureLabel = ShortText
Unit = Label
MeasureValue = Annotated[StrictFloat, Field(allow_inf_nan=False)]
Mcid = Annotated[
    StrictFloat,
    Field(
        gt=0,
        le=1000,
        allow_inf_nan=False,
        description="The minimal important change of this goal, in its unit: for `rom` and "
        "`custom` goals, which have none of their own; overrides the measure's for the others",
    ),
]


class GoalCreate(BaseModel):
    """Values must lie in the measure's range (`nprs` 0–10, `odi` 0–100, `rmdq` 0–24, `psfs`
    0–10, `rom` 0–360 degrees); a `custom` measure has no range and needs `measure_label`."""

    model_config = ConfigDict(extra="forbid")

    description: GoalDescription
    measure: Measure
    measure_label: MeasureLabel | None = None
    unit: Unit | None = None
    baseline_value: MeasureValue | None = None
    target_value: MeasureValue | None = None
    target_date: Date | None = None
    mcid: Mcid | None = None
    status: GoalStatus = GoalStatus.proposed


class GoalUpdate(MergePatch):
    """The merged goal is checked as a whole: a new `measure` must fit the values it keeps."""

    not_null = frozenset({"description", "measure", "status"})

    description: GoalDescription | None = None
    measure: Measure | None = None
    measure_label: MeasureLabel | None = None
    unit: Unit | None = None
    baseline_value: MeasureValue | None = None
    target_value: MeasureValue | None = None
    target_date: Date | None = None
    mcid: Mcid | None = None
    status: GoalStatus | None = None


class GoalRead(ReadModel):
    id: uuid.UUID
    care_plan_id: uuid.UUID
    description: str
    measure: Measure
    measure_label: str | None
    unit: str | None = Field(
        description="The goal's own unit, or its measure's (`points`, `%` for ODI, `degrees`)"
    )
    baseline_value: float | None
    target_value: float | None
    target_date: dt.date | None
    mcid: float | None
    status: GoalStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @model_validator(mode="after")
    def _measure_unit(self) -> GoalRead:
        """The same unit the summaries and FHIR give the goal."""
        self.unit = measures.goal_unit(self.measure, self.unit)
        return self
