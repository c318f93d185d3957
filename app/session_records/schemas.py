from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.care_plans.schemas import Measure
from app.clients.schemas import BodyRegion, BodyRegions
from app.core.concurrency import MergePatch
from app.core.fields import (
    Code,
    Description,
    Label,
    NoteText,
    StrictFloat,
    StrictInt,
    Timestamp,
)
from app.core.responses import ClinicalReadModel, ReadModel


class SessionStatus(StrEnum):
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


class SessionType(StrEnum):
    therapeutic = "therapeutic"
    relaxation = "relaxation"
    sports = "sports"
    prenatal = "prenatal"
    oncology = "oncology"
    lymphatic_drainage = "lymphatic_drainage"
    other = "other"


class Pressure(StrEnum):
    light = "light"
    moderate = "moderate"
    firm = "firm"
    deep = "deep"


class NoteStatus(StrEnum):
    draft = "draft"
    signed = "signed"


Duration = Annotated[StrictInt, Field(ge=5, le=240, description="Minutes, 5–240")]
Techniques = Annotated[
    list[Code],
    Field(max_length=30, examples=[["myofascial release", "trigger point"]]),
]


class Soap(BaseModel):
    """The SOAP note: subjective, objective, assessment, plan (each up to 20,000 characters)."""

    model_config = ConfigDict(extra="forbid")

    subjective: NoteText | None = None
    objective: NoteText | None = None
    assessment: NoteText | None = None
    plan: NoteText | None = None


class SoapRead(BaseModel):
    """The SOAP note as stored. Output is not input: a note written before today's input rules
    is read back as it is, never refused."""

    subjective: str | None = None
    objective: str | None = None
    assessment: str | None = None
    plan: str | None = None


class MeasurementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal_id: uuid.UUID | None = None
    measure: Measure
    value: StrictFloat = Field(allow_inf_nan=False)
    unit: Label | None = None
    timing: Literal["pre", "post"]


class MeasurementRead(ReadModel):
    id: uuid.UUID
    goal_id: uuid.UUID | None
    measure: str
    value: float
    unit: str | None
    timing: Literal["pre", "post"]


class AdjacentAppointment(BaseModel):
    """Another part of the larger plan booked back to back, e.g. psychotherapy right after."""

    model_config = ConfigDict(extra="forbid")

    referring_professional_id: uuid.UUID
    relation: Literal["before", "after"]
    starts_at: Timestamp


class AdjacentAppointmentRead(BaseModel):
    """As stored (output is not input: never refused on the way out)."""

    referring_professional_id: uuid.UUID
    relation: str
    starts_at: dt.datetime


class _SessionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    care_plan_id: uuid.UUID | None = None
    therapist_id: uuid.UUID
    scheduled_start: Timestamp
    duration_minutes: Duration
    session_type: SessionType
    body_regions: BodyRegions = Field(default_factory=list)
    regions_avoided: BodyRegions = Field(default_factory=list)
    techniques: Techniques = Field(default_factory=list)
    pressure: Pressure | None = None
    soap: Soap | None = None
    measurements: Annotated[list[MeasurementIn], Field(max_length=50)] = Field(default_factory=list)
    health_update: NoteText | None = None
    adverse_event: NoteText | None = None
    home_care: NoteText | None = None
    adjacent_appointment: AdjacentAppointment | None = None


class SessionCreate(_SessionFields):
    client_id: uuid.UUID
    status: Literal["scheduled", "completed"] = Field(
        default="scheduled",
        description="`completed` records a session after the fact; otherwise book it first",
    )


class SessionUpdate(MergePatch):
    not_null = frozenset(
        {
            "therapist_id",
            "scheduled_start",
            "duration_minutes",
            "session_type",
            "status",
            "body_regions",
            "regions_avoided",
            "techniques",
            "measurements",
        }
    )

    care_plan_id: uuid.UUID | None = None
    therapist_id: uuid.UUID | None = Field(
        default=None,
        description="A `completed` session's therapist never changes (409 `invalid-transition`)",
    )
    scheduled_start: Timestamp | None = None
    duration_minutes: Duration | None = None
    status: SessionStatus | None = None
    session_type: SessionType | None = None
    body_regions: BodyRegions | None = None
    regions_avoided: BodyRegions | None = None
    techniques: Techniques | None = None
    pressure: Pressure | None = None
    soap: Soap | None = None
    measurements: Annotated[list[MeasurementIn], Field(max_length=50)] | None = None
    health_update: NoteText | None = None
    adverse_event: NoteText | None = None
    home_care: NoteText | None = None
    adjacent_appointment: AdjacentAppointment | None = None


# what the front desk may write: the booking, never the clinical note
CLINICAL_INPUT_FIELDS = frozenset(
    {
        "soap",
        "measurements",
        "health_update",
        "adverse_event",
        "home_care",
        "techniques",
        "pressure",
    }
)


class AddendumCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NoteText
    reason: Description


class Author(BaseModel):
    type: Literal["user", "api_key"]
    id: uuid.UUID


class AddendumRead(ReadModel):
    id: uuid.UUID
    author: Author
    created_at: dt.datetime
    text: str
    reason: str

    @classmethod
    def of(cls, row: object) -> AddendumRead:
        return cls(
            id=getattr(row, "id"),  # noqa: B009
            author=Author(type=getattr(row, "author_type"), id=getattr(row, "author_id")),  # noqa: B009
            created_at=getattr(row, "created_at"),  # noqa: B009
            text=getattr(row, "text"),  # noqa: B009
            reason=getattr(row, "reason"),  # noqa: B009
        )


class WarningRead(BaseModel):
    code: str
    message: str
    precaution_id: uuid.UUID | None = None


class SessionRead(ClinicalReadModel):
    clinical_fields: ClassVar[frozenset[str]] = frozenset(
        {"soap", "measurements", "addenda", "adverse_event", "health_update", "home_care"}
    )

    id: uuid.UUID
    client_id: uuid.UUID
    care_plan_id: uuid.UUID | None
    therapist_id: uuid.UUID
    scheduled_start: dt.datetime
    scheduled_end: dt.datetime
    duration_minutes: int
    status: SessionStatus
    session_type: SessionType
    body_regions: list[BodyRegion]
    regions_avoided: list[BodyRegion]
    techniques: list[str]
    pressure: Pressure | None
    soap: SoapRead | None
    measurements: list[MeasurementRead]
    health_update: str | None
    adverse_event: str | None
    home_care: str | None
    adjacent_appointment: AdjacentAppointmentRead | None
    note_status: NoteStatus
    signed_at: dt.datetime | None
    signed_by: uuid.UUID | None = Field(
        description=(
            "Who attested the note: the signing user's id (the session's own therapist or an "
            "admin user), or the therapist's id when the therapist signed with an API key "
            "linked to it"
        )
    )
    content_sha256: str | None
    addenda: list[AddendumRead]
    warnings: list[WarningRead]
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, row: object) -> SessionRead:
        data = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in ("addenda", "measurements")
        }
        data["measurements"] = [
            MeasurementRead.model_validate(m)
            for m in getattr(row, "measurements")  # noqa: B009
        ]
        data["addenda"] = [AddendumRead.of(a) for a in getattr(row, "addenda")]  # noqa: B009
        return cls.model_validate(data)
