from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from app.core.concurrency import MergePatch
from app.core.fields import Email, Name, Secret, SingleLine, secret
from app.core.responses import ReadModel
from app.core.security import Role

Password = Annotated[str, StringConstraints(min_length=12, max_length=256), AfterValidator(secret)]


class RoleLinks(BaseModel):
    """A therapist is linked to a therapist record, a referrer to a referring professional."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    therapist_id: uuid.UUID | None = None
    referring_professional_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _links_match_role(self) -> RoleLinks:
        if self.role is Role.therapist and self.therapist_id is None:
            raise ValueError("the therapist role needs a therapist_id")
        if self.role is Role.referrer and self.referring_professional_id is None:
            raise ValueError("the referrer role needs a referring_professional_id")
        if self.role is not Role.therapist and self.therapist_id is not None:
            raise ValueError("only the therapist role takes a therapist_id")
        if self.role is not Role.referrer and self.referring_professional_id is not None:
            raise ValueError("only the referrer role takes a referring_professional_id")
        return self


class UserCreate(RoleLinks):
    email: Email
    password: Password
    display_name: Name


class UserUpdate(MergePatch):
    """A new password, a new role and deactivation end the user's access tokens at once."""

    not_null = frozenset({"display_name", "password", "active", "role"})

    display_name: Name | None = None
    password: Password | None = None
    active: StrictBool | None = None
    role: Role | None = Field(
        default=None,
        description="A new role: send the link it needs (therapist_id or "
        "referring_professional_id); links the new role does not take are cleared",
    )
    therapist_id: uuid.UUID | None = None
    referring_professional_id: uuid.UUID | None = None


class UserRead(ReadModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    therapist_id: uuid.UUID | None
    referring_professional_id: uuid.UUID | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class ApiKeyCreate(RoleLinks):
    name: Name


class ApiKeyRead(ReadModel):
    id: uuid.UUID
    name: str
    role: Role
    therapist_id: uuid.UUID | None
    referring_professional_id: uuid.UUID | None
    key_prefix: str = Field(description="The first characters of the key, to recognise it")
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class LoginForm(BaseModel):
    """The OAuth2 password grant's form (RFC 6749 §4.3.2). `scope`, `client_id` and
    `client_secret` are neither needed nor read."""

    username: Annotated[
        str,
        StringConstraints(min_length=1, max_length=320),
        SingleLine,
        Field(description="The user's email", examples=["front@clinic.example"]),
    ]
    password: Secret
    grant_type: Literal["password"] | None = Field(
        default=None, description="`password`, or left out"
    )


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
