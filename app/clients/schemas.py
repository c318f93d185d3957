from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.concurrency import MergePatch
from app.core.fields import (
    Address,
    Date,
    Email,
    LongText,
    Name,
    NoteText,
    PersonName,
    Phone,
    ShortText,
    StrictBool,
)
from app.core.responses import ClinicalReadModel, ReadModel


class BodyRegion(StrEnum):
    head = "head"
    neck = "neck"
    shoulders = "shoulders"
    upper_back = "upper_back"
    lower_back = "lower_back"
    chest = "chest"
    abdomen = "abdomen"
    arms = "arms"
    hands = "hands"
    hips = "hips"
    glutes = "glutes"
    legs = "legs"
    knees = "knees"
    feet = "feet"


BodyRegions = Annotated[list[BodyRegion], Field(max_length=len(BodyRegion))]


class PrecautionCategory(StrEnum):
    pregnancy = "pregnancy"
    cancer = "cancer"
    dvt = "dvt"
    anticoagulants = "anticoagulants"
    recent_surgery = "recent_surgery"
    skin_condition = "skin_condition"
    fever_infection = "fever_infection"
    cardiovascular = "cardiovascular"
    osteoporosis = "osteoporosis"
    disability = "disability"
    allergy = "allergy"
    other = "other"


class Severity(StrEnum):
    absolute = "absolute"
    local = "local"
    relative = "relative"


class PrecautionStatus(StrEnum):
    active = "active"
    resolved = "resolved"


class ConsentKind(StrEnum):
    treatment = "treatment"
    share_with_referrer = "share_with_referrer"


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    relationship: ShortText | None = None


class EmergencyContactRead(BaseModel):
    """As stored: output is not input, so a contact written before today's input rules is read
    back as it is, never refused."""

    name: str | None = None
    phone: str | None = None
    relationship: str | None = None


# ---- clients ---------------------------------------------------------------------------------


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given_name: PersonName
    family_name: PersonName
    date_of_birth: Date | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    emergency_contact: EmergencyContact | None = None
    pregnancy_due_date: Date | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _born_in_the_past(self) -> ClientCreate:
        if self.date_of_birth is not None and self.date_of_birth > dt.date.today():
            raise ValueError("date_of_birth is in the future")
        return self


class ClientUpdate(MergePatch):
    not_null = frozenset({"given_name", "family_name"})

    given_name: PersonName | None = None
    family_name: PersonName | None = None
    date_of_birth: Date | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    emergency_contact: EmergencyContact | None = None
    pregnancy_due_date: Date | None = None
    notes: LongText | None = None

    @model_validator(mode="after")
    def _born_in_the_past(self) -> ClientUpdate:
        if self.date_of_birth is not None and self.date_of_birth > dt.date.today():
            raise ValueError("date_of_birth is in the future")
        return self


class ClientRead(ReadModel):
    id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: dt.date | None
    email: str | None
    phone: str | None
    address: str | None
    emergency_contact: EmergencyContactRead | None
    pregnancy_due_date: dt.date | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int


# ---- precautions -----------------------------------------------------------------------------


def _local_needs_regions(severity: Severity | None, regions: list[BodyRegion] | None) -> None:
    if severity is Severity.local and not regions:
        raise ValueError("a local precaution names the body_regions it applies to")


class PrecautionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: PrecautionCategory
    severity: Severity
    body_regions: BodyRegions = Field(default_factory=list)
    description: NoteText | None = None
    status: PrecautionStatus = PrecautionStatus.active
    requires_clearance: StrictBool = False

    @model_validator(mode="after")
    def _regions(self) -> PrecautionCreate:
        _local_needs_regions(self.severity, self.body_regions)
        return self


class PrecautionUpdate(MergePatch):
    not_null = frozenset({"category", "severity", "body_regions", "status", "requires_clearance"})

    category: PrecautionCategory | None = None
    severity: Severity | None = None
    body_regions: BodyRegions | None = None
    description: NoteText | None = None
    status: PrecautionStatus | None = None
    requires_clearance: StrictBool | None = None


class Clearance(BaseModel):
    """A referring professional's clearance to treat despite the precaution."""

    model_config = ConfigDict(extra="forbid")

    referring_professional_id: uuid.UUID
    cleared_on: Date
    note: LongText | None = None


class ClearanceRead(ClinicalReadModel):
    """A clearance as the API returns it: its `note` is clinical, absent for the front desk."""

    clinical_fields: ClassVar[frozenset[str]] = frozenset({"note"})

    referring_professional_id: uuid.UUID
    cleared_on: dt.date
    note: str | None = None


class PrecautionRead(ClinicalReadModel):
    clinical_fields: ClassVar[frozenset[str]] = frozenset({"description"})

    id: uuid.UUID
    client_id: uuid.UUID
    category: PrecautionCategory
    severity: Severity
    body_regions: list[BodyRegion]
    description: str | None
    status: PrecautionStatus
    requires_clearance: bool
    clearance: ClearanceRead | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @classmethod
    def of(cls, row: object) -> PrecautionRead:
        cleared_by = getattr(row, "clearance_referring_professional_id", None)
        clearance = (
            ClearanceRead(
                referring_professional_id=cleared_by,
                cleared_on=getattr(row, "cleared_on"),  # noqa: B009
                note=getattr(row, "clearance_note"),  # noqa: B009
            )
            if cleared_by is not None
            else None
        )
        data = {name: getattr(row, name) for name in cls.model_fields if name != "clearance"}
        return cls.model_validate({**data, "clearance": clearance})


# ---- consents --------------------------------------------------------------------------------


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ConsentKind
    referring_professional_id: uuid.UUID | None = None
    granted_on: Date
    expires_on: Date | None = None

    @model_validator(mode="after")
    def _scope(self) -> ConsentCreate:
        if self.kind is ConsentKind.share_with_referrer and self.referring_professional_id is None:
            raise ValueError("a share_with_referrer consent names the referring_professional_id")
        if self.expires_on is not None and self.expires_on < self.granted_on:
            raise ValueError("expires_on is before granted_on")
        return self


class ConsentRead(ReadModel):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: ConsentKind
    referring_professional_id: uuid.UUID | None
    granted_on: dt.date
    expires_on: dt.date | None
    revoked_at: dt.datetime | None
    active: bool = Field(description="Granted, not expired and not revoked, today")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @classmethod
    def of(cls, row: object, today: dt.date) -> ConsentRead:
        data = {name: getattr(row, name) for name in cls.model_fields if name != "active"}
        active = (
            data["granted_on"] <= today
            and (data["expires_on"] is None or data["expires_on"] >= today)
            and data["revoked_at"] is None
        )
        return cls.model_validate({**data, "active": active})
