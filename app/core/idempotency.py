"""`Idempotency-Key` on every POST: a retried request gets the first response and creates nothing.

A key belongs to one caller (actor) for 24 hours. Its row is claimed before the work runs, in
a short transaction of its own: the route's last dependency inserts the "in progress" row on the
request's connection and commits (until then the transaction held only the dependencies' reads),
so a second request with the same key, even one arriving a microsecond later on another
connection, meets the unique constraint on (actor, key) and finds the first running (409) or
finished (its stored response). Using the request's own connection means a keyed request never
needs a second connection from the pool, so a full pool cannot deadlock on claims.

The work then runs in the request's next transaction, and the response is written into the
claimed row in that same transaction: the work and its stored response commit together. When
the work fails (a problem response, a failed commit) the row is deleted again in a transaction
of its own: the key is released and a retry runs the work.

A claim abandoned by a process that died mid-request is taken over after `ABANDONED_AFTER`.
Expired keys are deleted whenever a key is claimed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response

from app.core.db import Base, JSONType
from app.core.errors import AppError, Conflict, ValidationFailed
from app.core.security import Caller

logger = logging.getLogger("careplan.idempotency")

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 255
TTL = dt.timedelta(hours=24)
ABANDONED_AFTER = dt.timedelta(minutes=5)
REPLAYED_HEADER = "Idempotent-Replayed"
# the response headers a replay must repeat; the rest (request id, dates) belong to each request
KEPT_HEADERS = ("content-type", "location", "etag", "cache-control", "content-language")
_CLAIM_ATTEMPTS = 3


class IdempotencyRecord(Base):
    """One caller's key: the hash of the first request and, once it finished, its response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    actor: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    locked_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONType, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class IdempotencyKeyReused(AppError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotentReplay(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """Raised by the claim when the key already holds a finished response: the route returns it."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


@dataclass
class Claim:
    record_id: uuid.UUID
    finished: bool = False


def actor_of(caller: Caller) -> str:
    return f"{caller.actor_type}:{caller.actor_id}"


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of the method, path, query and body; a JSON body is hashed in a canonical form
    (sorted keys, no white space) so a retry that serializes it differently is still a repeat."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


async def claim_key(
    db: AsyncSession, actor: str, key: str, digest: str, now: dt.datetime
) -> uuid.UUID:
    """Claims (actor, key) in `db`'s transaction and returns the row's id, or raises: the first
    response (`IdempotentReplay`), 409 while the first request runs, 422 for another request."""
    await db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    record = IdempotencyRecord.__table__.c
    for _ in range(_CLAIM_ATTEMPTS):
        record_id = uuid.uuid4()
        try:
            async with db.begin_nested():
                await db.execute(
                    insert(IdempotencyRecord).values(
                        id=record_id,
                        actor=actor,
                        key=key,
                        request_hash=digest,
                        created_at=now,
                        locked_at=now,
                        expires_at=now + TTL,
                    )
                )
            return record_id
        except IntegrityError:
            pass
        row = (
            await db.execute(
                select(
                    record.id,
                    record.request_hash,
                    record.locked_at,
                    record.response_status,
                    record.response_headers,
                    record.response_body,
                ).where(record.actor == actor, record.key == key)
            )
        ).one_or_none()
        if row is None:  # released by a failed first request meanwhile: claim it again
            continue
        if row.request_hash != digest:
            raise IdempotencyKeyReused(
                f"This {HEADER} was used for a different request in the last 24 hours"
            )
        if row.response_status is not None:
            raise IdempotentReplay(_replay(row.response_status, row.response_headers, row))
        if row.locked_at <= now - ABANDONED_AFTER:
            taken = await db.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == row.id,
                    IdempotencyRecord.locked_at == row.locked_at,
                    IdempotencyRecord.response_status.is_(None),
                )
                .values(locked_at=now)
            )
            if _rowcount(taken) == 1:
                return uuid.UUID(str(row.id))
        raise Conflict(f"A request with this {HEADER} is still being processed; retry later")
    raise Conflict(f"A request with this {HEADER} is being processed and released; retry")


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _replay(status: int, headers: dict[str, str] | None, row: Any) -> Response:
    response = Response(row.response_body or b"", status_code=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def replayable(response: Response) -> bool:
    return isinstance(getattr(response, "body", None), bytes)


async def store_response(db: AsyncSession, claim: Claim, response: Response) -> None:
    """Writes the response into the claimed row, in the request's transaction."""
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    await db.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claim.record_id)
        .values(
            response_status=response.status_code,
            response_headers=headers,
            response_body=bytes(response.body),
        )
    )


async def release(sessionmaker: async_sessionmaker[AsyncSession], claim: Claim) -> None:
    """Deletes an unfinished claim in a transaction of its own, so a retry runs the work."""
    if claim.finished:
        return
    try:
        async with sessionmaker() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == claim.record_id,
                    IdempotencyRecord.response_status.is_(None),
                )
            )
            await session.commit()
    except Exception:
        # the row stays "in progress" and is taken over after ABANDONED_AFTER
        logger.exception("could not release an idempotency key")


KEY_DESCRIPTION = (
    "Any string of 1–255 characters. Kept per caller for 24 hours: a repeat with the same body "
    "returns the first response (with `Idempotent-Replayed: true`) and creates nothing; a "
    "different body is 422 `idempotency-key-reused`; a repeat while the first still runs is 409."
)
OPENAPI_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": KEY_DESCRIPTION,
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "title": HEADER},
}
"""How every POST documents the header. It is read by `key_of`, not declared as a FastAPI
parameter: a declared parameter costs every POST its solving, key or no key."""


def key_of(headers: Mapping[str, str]) -> str | None:
    """The request's `Idempotency-Key`, if it sent one; 422 when it is not 1–255 characters."""
    key = headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= KEY_MAX_LENGTH:
        raise ValidationFailed.field(
            ["header", HEADER], f"must be 1–{KEY_MAX_LENGTH} characters long"
        )
    return key
