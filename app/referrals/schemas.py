from __future__ import annotations

import datetime as dt
import re
import uuid
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator

from app.core.concurrency import MergePatch
from app.core.fields import Date, Email, LongText, Name, Phone, SingleLine
from app.core.responses import ClinicalReadModel


class ReferralStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    completed = "completed"
    cancelled = "cancelled"


# a category (letter, two digits, the third may be A or B as in C4A or D3A), then an optional
# dot and up to four characters of subcategory and extension; U is a category letter (U07.1) but
# never an extension character
ICD10_RE = re.compile(r"^[A-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


def normalize_icd10(code: str) -> str:
    """An ICD-10 code in its canonical form: upper case, with the dot after the category
    (`m545` → `M54.5`). Raises `ValueError` for anything that is not shaped like a code."""
    text = code.strip().upper()
    if "." not in text and len(text) > 3:
        text = f"{text[:3]}.{text[3:]}"
    if not ICD10_RE.match(text):
        raise ValueError(f"{code!r} is not an ICD-10 code, e.g. M54.5 or S83.2")
    return text


DiagnosisCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=10,
        examples=["M54.5"],
        description="An ICD-10 code; any case, the dot may be left out (m545 → M54.5)",
    ),
    SingleLine,
    AfterValidator(normalize_icd10),
]
DiagnosisCodes = Annotated[
    list[DiagnosisCode],
    Field(max_length=20, description="ICD-10 codes, stored in upper case with the dot"),
]
AuthorizedSessions = Annotated[StrictInt, Field(ge=1, le=1000)]


class ReferredPatient(BaseModel):
    """The patient as the referrer names them; the clinic links the referral to a client."""

    model_config = ConfigDict(extra="forbid")

    given_name: Name
    family_name: Name
    date_of_birth: Date
    phone: Phone | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _born_in_the_past(self) -> ReferredPatient:
        if self.date_of_birth > dt.date.today():
            raise ValueError("date_of_birth is in the future")
        if self.date_of_birth.year < 1900:
            raise ValueError("date_of_birth is before 1900")
        return self


class ReferredPatientRead(BaseModel):
    """As stored (output is not input: never refused on the way out)."""

    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    phone: str | None = None
    email: str | None = None


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID | None = Field(
        default=None,
        description="The client, for clinic staff. A referrer never sends it (422): it names "
        "the `patient` instead.",
    )
    patient: ReferredPatient | None = Field(
        default=None,
        description="The patient as the referrer knows them: required from a referrer, "
        "optional for staff. The referral stays pending, with client_id null, until the "
        "clinic links a client and accepts it.",
    )
    referring_professional_id: uuid.UUID | None = Field(
        default=None,
        description="Required for clinic staff. A referrer's referrals are always its own: "
        "whatever is sent here, its own referring professional is used.",
    )
    received_on: Date | None = Field(
        default=None, description="The day the referral reached the clinic; today by default"
    )
    reason: LongText | None = None
    diagnosis_codes: DiagnosisCodes = Field(default_factory=list)
    diagnosis_text: LongText | None = None
    authorized_sessions: AuthorizedSessions | None = None
    valid_until: Date | None = Field(default=None, description="Not before received_on")
    precautions_note: LongText | None = None
    status: ReferralStatus = Field(
        default=ReferralStatus.pending,
        description="The initial status; a referrer's new referral is always pending",
    )


class ReferralUpdate(MergePatch):
    """The client of a referral never changes once linked: a referral for the wrong client is
    archived and made again for the right one. A referral that names only a patient is linked
    by sending `client_id` (with `status: accepted` to accept it)."""

    not_null = frozenset(
        {"client_id", "referring_professional_id", "received_on", "diagnosis_codes", "status"}
    )

    client_id: uuid.UUID | None = Field(
        default=None, description="Links a referral that has no client yet; never changes after"
    )
    referring_professional_id: uuid.UUID | None = None
    received_on: Date | None = None
    reason: LongText | None = None
    diagnosis_codes: DiagnosisCodes | None = None
    diagnosis_text: LongText | None = None
    authorized_sessions: AuthorizedSessions | None = None
    valid_until: Date | None = None
    precautions_note: LongText | None = None
    status: ReferralStatus | None = Field(
        default=None,
        description="pending → accepted | declined | cancelled; accepted → completed | "
        "cancelled; declined, completed and cancelled are final",
    )


class ReferralRead(ClinicalReadModel):
    clinical_fields: ClassVar[frozenset[str]] = frozenset(
        {"diagnosis_codes", "diagnosis_text", "precautions_note"}
    )

    id: uuid.UUID
    client_id: uuid.UUID | None
    patient: ReferredPatientRead | None
    referring_professional_id: uuid.UUID
    received_on: dt.date
    reason: str | None
    diagnosis_codes: list[str]
    diagnosis_text: str | None
    authorized_sessions: int | None
    valid_until: dt.date | None
    precautions_note: str | None
    status: ReferralStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None
    version: int
