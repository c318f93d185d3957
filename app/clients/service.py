"""Clients, their precautions and their consents."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    Table,
    bindparam,
    exists,
    insert,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client, Consent, Precaution
from app.clients.schemas import (
    Clearance,
    ClientCreate,
    ConsentCreate,
    ConsentKind,
    PrecautionCreate,
    PrecautionUpdate,
    Severity,
)
from app.core import crud, statements
from app.core.concurrency import storable
from app.core.db import utcnow
from app.core.errors import ValidationFailed
from app.core.ids import random_id
from app.core.pagination import PageParams, page_shape, page_values
from app.core.statements import Row
from app.directory.models import ReferringProfessional
from app.referrals.models import Referral


@dataclass(frozen=True, slots=True)
class ClientFilters:
    q: str | None = None
    referring_professional_id: uuid.UUID | None = None
    include_archived: bool = False


CLIENTS: Table = Client.__table__  # type: ignore[assignment]
_CLIENT_COLUMNS = select(*CLIENTS.c)
_CLIENT_BY_ID = _CLIENT_COLUMNS.where(Client.id == bindparam("client_id"))
_INSERT_CLIENT = insert(CLIENTS).returning(*CLIENTS.c)
# every column of a new row, in the table's order: what is not given is stored NULL
_NEW_CLIENT: dict[str, None] = dict.fromkeys(CLIENTS.c.keys())


async def read_client(
    db: AsyncSession, client_id: uuid.UUID, *, include_archived: bool = False
) -> Row:
    """A client as `ClientRead` reads it, without the ORM: the hot read of the API."""
    return await crud.row_or_404(
        db, _CLIENT_BY_ID, "client", include_archived=include_archived, client_id=client_id
    )


async def create_client(db: AsyncSession, data: ClientCreate) -> Row:
    """A new client as `ClientRead` reads it, written without the ORM: the hot write of the API.
    The row gets what the model's defaults give (a new id, created and updated now, version 1);
    its `client.created` event is the caller's to emit (`app.events.outbox.emit`), last."""
    now = utcnow()
    values = {
        **_NEW_CLIENT,
        **storable(data),
        "id": random_id(),
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    client = await statements.fetch_one(db, _INSERT_CLIENT, **values)
    assert client is not None
    return client


async def list_clients(db: AsyncSession, filters: ClientFilters, page: PageParams) -> list[Row]:
    """A page of clients (limit + 1 rows, for `page_of`) as `ClientRead` reads them, without
    the ORM: the hot list of the API. Its statement is built once per shape of request."""
    words = crud.search_patterns(filters.q) if filters.q else {}
    referred = filters.referring_professional_id is not None
    statement = _clients_page(len(words), referred, filters.include_archived, page_shape(page))
    values = {**words, **page_values(page)}
    if referred:
        values["referring_professional_id"] = filters.referring_professional_id
    return await statements.fetch(db, statement, **values)


@functools.cache
def _clients_page(
    words: int, referred: bool, include_archived: bool, shape: PageParams
) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = []
    if words:
        placeholder = " ".join(["-"] * words)
        conditions.append(crud.name_matches(placeholder, Client.given_name, Client.family_name))
    if referred:
        conditions.append(
            exists().where(
                Referral.client_id == Client.id,
                Referral.referring_professional_id
                == bindparam(
                    "referring_professional_id", type_=Referral.referring_professional_id.type
                ),
                Referral.archived_at.is_(None),
            )
        )
    return crud.page_query(
        Client, shape, *conditions, include_archived=include_archived, stmt=_CLIENT_COLUMNS
    )


async def _require_referring_professional(
    db: AsyncSession, rp_id: uuid.UUID, loc: list[str | int]
) -> None:
    found = await db.scalar(
        select(ReferringProfessional.id).where(
            ReferringProfessional.id == rp_id, ReferringProfessional.archived_at.is_(None)
        )
    )
    if found is None:
        raise ValidationFailed.field(loc, "no such referring professional")


# ---- precautions -----------------------------------------------------------------------------


async def add_precaution(db: AsyncSession, client: Client, data: PrecautionCreate) -> Precaution:
    return await crud.create(db, Precaution, data, client_id=client.id)


async def list_precautions(db: AsyncSession, client: Client, page: PageParams) -> list[Precaution]:
    return await crud.list_page(db, Precaution, page, Precaution.client_id == client.id)


async def update_precaution(
    db: AsyncSession, precaution: Precaution, patch: PrecautionUpdate, expected_version: int
) -> Precaution:
    changes = patch.changes()
    severity = changes.get("severity", precaution.severity)
    regions = changes.get("body_regions", precaution.body_regions)
    if severity == Severity.local and not regions:
        raise ValidationFailed.field(
            ["body", "body_regions"], "a local precaution names the body_regions it applies to"
        )
    return await crud.patch(db, precaution, changes, expected_version)


async def clear_precaution(
    db: AsyncSession, precaution: Precaution, clearance: Clearance
) -> Precaution:
    """Records a referring professional's clearance to treat despite the precaution."""
    await _require_referring_professional(
        db, clearance.referring_professional_id, ["body", "referring_professional_id"]
    )
    precaution.clearance_referring_professional_id = clearance.referring_professional_id
    precaution.cleared_on = clearance.cleared_on
    precaution.clearance_note = clearance.note
    await db.flush()
    return precaution


# ---- consents --------------------------------------------------------------------------------


async def add_consent(db: AsyncSession, client: Client, data: ConsentCreate) -> Consent:
    if data.referring_professional_id is not None:
        await _require_referring_professional(
            db, data.referring_professional_id, ["body", "referring_professional_id"]
        )
    return await crud.create(db, Consent, data, client_id=client.id)


async def list_consents(db: AsyncSession, client: Client, page: PageParams) -> list[Consent]:
    return await crud.list_page(db, Consent, page, Consent.client_id == client.id)


def consent_is_active(
    client_id: SQLColumnExpression[uuid.UUID] | SQLColumnExpression[uuid.UUID | None] | uuid.UUID,
    kind: ConsentKind,
    today: dt.date | ColumnElement[dt.date],
    professional_id: uuid.UUID | ColumnElement[uuid.UUID] | None = None,
) -> ColumnElement[bool]:
    """The client holds an active consent of this kind (naming the professional, when one is
    given): granted, not expired and not revoked today (the SQL form of `ConsentRead.active`)."""
    conditions = [
        Consent.client_id == client_id,
        Consent.kind == kind.value,
        Consent.granted_on <= today,
        or_(Consent.expires_on.is_(None), Consent.expires_on >= today),
        Consent.revoked_at.is_(None),
    ]
    if professional_id is not None:
        conditions.append(Consent.referring_professional_id == professional_id)
    return exists().where(*conditions)


def sharing_consent_is_active(
    client_id: SQLColumnExpression[uuid.UUID] | SQLColumnExpression[uuid.UUID | None] | uuid.UUID,
    professional_id: uuid.UUID | ColumnElement[uuid.UUID],
    today: dt.date | ColumnElement[dt.date],
) -> ColumnElement[bool]:
    """The client holds an active `share_with_referrer` consent naming the professional (values,
    or `bindparam`s for a statement built once)."""
    return consent_is_active(client_id, ConsentKind.share_with_referrer, today, professional_id)


async def has_treatment_consent(db: AsyncSession, client_id: uuid.UUID, today: dt.date) -> bool:
    """The client holds an active `treatment` consent today."""
    held = await db.scalar(select(consent_is_active(client_id, ConsentKind.treatment, today)))
    return bool(held)


async def revoke_consent(db: AsyncSession, consent: Consent) -> Consent:
    """Revoking takes effect at once; revoking a revoked consent changes nothing."""
    if consent.revoked_at is None:
        consent.revoked_at = utcnow()
        await db.flush()
    return consent


def today() -> dt.date:
    return utcnow().date()
