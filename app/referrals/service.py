"""Referrals: who sent a client to the clinic, for what, and how far the referral has got."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.core import crud
from app.core.concurrency import check_version
from app.core.db import utcnow
from app.core.errors import ValidationFailed
from app.core.pagination import PageParams
from app.core.transitions import StatusMachine
from app.directory.models import ReferringProfessional
from app.referrals.models import Referral
from app.referrals.schemas import ReferralCreate, ReferralStatus, ReferralUpdate

S = ReferralStatus

REFERRAL_STATUS = StatusMachine(
    resource="referral",
    moves={
        S.pending: frozenset({S.accepted, S.declined, S.cancelled}),
        S.accepted: frozenset({S.completed, S.cancelled}),
        S.declined: frozenset(),
        S.completed: frozenset(),
        S.cancelled: frozenset(),
    },
)


@dataclass(frozen=True, slots=True)
class ReferralFilters:
    client_id: uuid.UUID | None = None
    referring_professional_id: uuid.UUID | None = None
    status: ReferralStatus | None = None
    include_archived: bool = False


async def require_client(db: AsyncSession, client_id: uuid.UUID, loc: list[str | int]) -> None:
    """422 at `loc` unless the client exists and is not archived."""
    found = await db.scalar(
        select(Client.id).where(Client.id == client_id, Client.archived_at.is_(None))
    )
    if found is None:
        raise ValidationFailed.field(loc, "no such client")


async def require_referring_professional(
    db: AsyncSession, rp_id: uuid.UUID, loc: list[str | int]
) -> None:
    """422 at `loc` unless the referring professional exists and is not archived."""
    found = await db.scalar(
        select(ReferringProfessional.id).where(
            ReferringProfessional.id == rp_id, ReferringProfessional.archived_at.is_(None)
        )
    )
    if found is None:
        raise ValidationFailed.field(loc, "no such referring professional")


LINKED_STATUSES = frozenset({ReferralStatus.accepted.value, ReferralStatus.completed.value})


def _require_client_when_accepted(client_id: uuid.UUID | None, status: str, blame: str) -> None:
    """An accepted (or completed) referral is always linked to a client."""
    if client_id is None and status in LINKED_STATUSES:
        raise ValidationFailed.field(
            ["body", blame], f"link a client (client_id) before the referral is {status}"
        )


def _check_validity(received_on: dt.date, valid_until: dt.date | None, blame: str) -> None:
    if valid_until is not None and valid_until < received_on:
        raise ValidationFailed.field(["body", blame], "valid_until is before received_on")


async def create_referral(
    db: AsyncSession, data: ReferralCreate, *, referrer_id: uuid.UUID | None = None
) -> Referral:
    """A referrer (`referrer_id`) refers for itself only, whatever the body says; it names the
    patient, never a client id (the answer must not tell it which ids are clients, so any
    `client_id` is refused before it is looked at), and its referrals start `pending`:
    accepting or declining them, and linking the client, is the clinic's decision."""
    if referrer_id is not None:
        if data.client_id is not None:
            raise ValidationFailed.field(
                ["body", "client_id"],
                "a referrer names the patient (patient), never a client_id",
            )
        if data.patient is None:
            raise ValidationFailed.field(["body", "patient"], "a referrer names the patient")
        if data.status is not ReferralStatus.pending:
            raise ValidationFailed.field(
                ["body", "status"],
                "a referrer's new referral is pending until the clinic decides",
            )
    elif data.client_id is None and data.patient is None:
        raise ValidationFailed.field(
            ["body", "client_id"], "name the client (client_id) or the patient (patient)"
        )
    _require_client_when_accepted(data.client_id, data.status.value, "status")
    rp_id = referrer_id or data.referring_professional_id
    if rp_id is None:
        raise ValidationFailed.field(
            ["body", "referring_professional_id"], "the referring professional is required"
        )
    received_on = data.received_on or utcnow().date()
    _check_validity(received_on, data.valid_until, "valid_until")
    if data.client_id is not None:
        await require_client(db, data.client_id, ["body", "client_id"])
    await require_referring_professional(db, rp_id, ["body", "referring_professional_id"])
    values = data.model_dump(exclude={"referring_professional_id", "received_on", "patient"})
    referral = Referral(
        **values,
        patient=data.patient.model_dump(mode="json") if data.patient else None,
        referring_professional_id=rp_id,
        received_on=received_on,
    )
    db.add(referral)
    await db.flush()
    return referral


async def list_referrals(
    db: AsyncSession, filters: ReferralFilters, page: PageParams
) -> list[Referral]:
    conditions: list[ColumnElement[bool]] = []
    if filters.client_id is not None:
        conditions.append(Referral.client_id == filters.client_id)
    if filters.referring_professional_id is not None:
        conditions.append(Referral.referring_professional_id == filters.referring_professional_id)
    if filters.status is not None:
        conditions.append(Referral.status == filters.status.value)
    return await crud.list_page(
        db, Referral, page, *conditions, include_archived=filters.include_archived
    )


async def update_referral(
    db: AsyncSession, referral: Referral, patch: ReferralUpdate, expected_version: int
) -> Referral:
    check_version(referral.version, expected_version)
    changes = patch.changes()
    if "status" in changes:
        REFERRAL_STATUS.check(referral.status, str(changes["status"]))
    if "client_id" in changes and changes["client_id"] != referral.client_id:
        if referral.client_id is not None:
            raise ValidationFailed.field(
                ["body", "client_id"], "the client of a referral never changes once linked"
            )
        await require_client(db, changes["client_id"], ["body", "client_id"])
    _require_client_when_accepted(
        changes.get("client_id", referral.client_id),
        str(changes.get("status", referral.status)),
        "client_id" if "status" in changes else "status",
    )
    _check_validity(
        changes.get("received_on", referral.received_on),
        changes.get("valid_until", referral.valid_until),
        "valid_until" if "valid_until" in changes else "received_on",
    )
    rp_id = changes.get("referring_professional_id")
    if rp_id is not None and rp_id != referral.referring_professional_id:
        await require_referring_professional(db, rp_id, ["body", "referring_professional_id"])
    return await crud.patch(db, referral, changes, expected_version)
