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


def _check_validity(received_on: dt.date, valid_until: dt.date | None, blame: str) -> None:
    if valid_until is not None and valid_until < received_on:
        raise ValidationFailed.field(["body", blame], "valid_until is before received_on")


async def create_referral(
    db: AsyncSession, data: ReferralCreate, *, referrer_id: uuid.UUID | None = None
) -> Referral:
    """A referrer (`referrer_id`) refers for itself only, whatever the body says, and its
    referrals start `pending`: accepting or declining them is the clinic's decision."""
    if referrer_id is not None and data.status is not ReferralStatus.pending:
        raise ValidationFailed.field(
            ["body", "status"], "a referrer's new referral is pending until the clinic decides"
        )
    rp_id = referrer_id or data.referring_professional_id
    if rp_id is None:
        raise ValidationFailed.field(
            ["body", "referring_professional_id"], "the referring professional is required"
        )
    received_on = data.received_on or utcnow().date()
    _check_validity(received_on, data.valid_until, "valid_until")
    await require_client(db, data.client_id, ["body", "client_id"])
    await require_referring_professional(db, rp_id, ["body", "referring_professional_id"])
    values = data.model_dump(exclude={"referring_professional_id", "received_on"})
    referral = Referral(**values, referring_professional_id=rp_id, received_on=received_on)
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
    _check_validity(
        changes.get("received_on", referral.received_on),
        changes.get("valid_until", referral.valid_until),
        "valid_until" if "valid_until" in changes else "received_on",
    )
    rp_id = changes.get("referring_professional_id")
    if rp_id is not None and rp_id != referral.referring_professional_id:
        await require_referring_professional(db, rp_id, ["body", "referring_professional_id"])
    return await crud.patch(db, referral, changes, expected_version)
