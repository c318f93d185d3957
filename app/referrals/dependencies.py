"""Loading referrals by path id, authorizing the caller: the clinic's staff see every referral,
a referrer only its own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import allow
from app.core import crud
from app.core.errors import Forbidden, Hidden
from app.core.pagination import IncludeArchived
from app.core.routing import DbSession
from app.core.security import Caller, Role
from app.referrals.models import Referral

# the clinic's staff do everything with referrals; a referrer creates, lists and reads its own
ReferralReader = Annotated[
    Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk, Role.referrer))
]
ReferralEditor = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]


def own_referring_professional(caller: Caller) -> uuid.UUID | None:
    """The referring professional a referrer acts as; None for the clinic's staff."""
    if caller.role is not Role.referrer:
        return None
    if caller.referring_professional_id is None:
        raise Forbidden("This referrer is not linked to a referring professional")
    return caller.referring_professional_id


async def referral_for_reader(
    referral_id: uuid.UUID,
    db: DbSession,
    caller: ReferralReader,
    include_archived: IncludeArchived = False,
) -> Referral:
    own = own_referring_professional(caller)
    referral = await crud.get_or_404(
        db, Referral, referral_id, include_archived=include_archived, what="referral"
    )
    if own is not None and referral.referring_professional_id != own:
        raise Hidden("No such referral")
    return referral


async def referral_for_editor(referral_id: uuid.UUID, db: DbSession, _: ReferralEditor) -> Referral:
    return await crud.get_or_404(db, Referral, referral_id, what="referral")


ReferralForReader = Annotated[Referral, Depends(referral_for_reader)]
ReferralForEditor = Annotated[Referral, Depends(referral_for_editor)]
