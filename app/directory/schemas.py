from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.concurrency import MergePatch
from app.core.fields import Code, Date, Email, Label, Name, Phone, ShortText, StrictBool
from app.core.responses import ReadModel


class Certification(StrEnum):
    prenatal = "prenatal"
    oncology = "oncology"
    sports = "sports"
    lymphatic_drainage = "lymphatic_drainage"
    medical_massage = "medical_massage"


class Discipline(StrEnum):
    physical_therapy = "physical_therapy"
    oncology = "oncology"
    psychotherapy = "psychotherapy"
    primary_care = "primary_care"
    sports_medicine = "sports_medicine"
    chiropractic = "chiropractic"
    occupational_therapy = "occupational_therapy"
    other = "other"


Credentials = Annotated[list[Label], Field(max_length=20)]
Certifications = Annotated[list[Certification], Field(max_length=10)]


class TherapistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: Name
    email: Email | None = None
    phone: Phone | None = None
    license_number: Code | None = None
    license_region: Code | None = None
    license_expires_on: Date | None = None
    credentials: Credentials = Field(default_factory=list, examples=[["LMT"]])
    certifications: Certifications = Field(default_factory=list)
    active: StrictBool = True


class TherapistUpdate(MergePatch):
    not_null = frozenset({"full_name", "credentials", "certifications", "active"})

    full_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    license_number: Code | None = None
    license_region: Code | None = None
    license_expires_on: Date | None = None
    credentials: Credentials | None = None
    certifications: Certifications | None = None
    active: StrictBool | None = None


class TherapistRead(ReadModel):
    id: uuid.UUID
    full_name: str
    email: str | None
    phone: str | None
    license_number: str | None
    license_region: str | None
    license_expires_on: dt.date | None
    credentials: list[str]
    certifications: list[Certification]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int


class ReferringProfessionalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: Name
    discipline: Discipline
    organization: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    fax: Phone | None = None
    registration_number: Code | None = None
    active: StrictBool = True


class ReferringProfessionalUpdate(MergePatch):
    not_null = frozenset({"full_name", "discipline", "active"})

    full_name: Name | None = None
    discipline: Discipline | None = None
    organization: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    fax: Phone | None = None
    registration_number: Code | None = None
    active: StrictBool | None = None


class ReferringProfessionalRead(ReadModel):
    id: uuid.UUID
    full_name: str
    discipline: Discipline
    organization: str | None
    email: str | None
    phone: str | None
    fax: str | None
    registration_number: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int
