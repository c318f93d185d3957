"""Writing audit events into the request's own transaction, and reading them back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.audit.writer import insert_events
from app.core.context import request_info_var
from app.core.db import utcnow
from app.core.ids import random_id, random_ids
from app.core.pagination import PageParams, paginate_by


class AuditAction(StrEnum):
    read = "read"
    create = "create"
    update = "update"
    delete = "delete"
    sign = "sign"
    export = "export"
    login = "login"
    denied = "denied"


@dataclass(frozen=True, slots=True)
class Actor:
    actor_type: str | None
    actor_id: uuid.UUID | None
    role: str | None


NO_ACTOR = Actor(None, None, None)
"""Who acts when nobody authenticated: a failed login, the command line."""

SAFE_METHODS = frozenset({"GET", "HEAD"})
_DEFERRED = "careplan.audit.after_commit"


def _deferred(db: AsyncSession) -> list[dict[str, Any]] | None:
    """The list that collects the events of a request that changes nothing (GET, HEAD): they
    are written by the group-commit writer once the request's transaction ended, before the
    answer leaves (`app.audit.writer`). Events of writes stay in the write's own transaction."""
    info = request_info_var.get()
    if info is None or info.method not in SAFE_METHODS:
        return None
    events: list[dict[str, Any]] = db.info.setdefault(_DEFERRED, [])
    return events


def take_deferred(db: AsyncSession) -> list[dict[str, Any]]:
    """The events collected for the group-commit writer, handed over once."""
    events: list[dict[str, Any]] = db.info.pop(_DEFERRED, [])
    return events


def _request_values(
    actor: Actor, action: AuditAction, resource_type: str | None, status: int | None = None
) -> dict[str, Any]:
    """The columns an event takes from its request, the same for every event of the request."""
    info = request_info_var.get()
    return {
        "actor_type": actor.actor_type,
        "actor_id": actor.actor_id,
        "role": actor.role,
        "action": action.value,
        "resource_type": resource_type,
        "request_id": info.request_id if info else None,
        "ip": info.ip if info else None,
        "method": info.method if info else None,
        "path": storable_path(info.path) if info else None,
        "status": status,
    }


def _row_values(
    shared: dict[str, Any],
    event_id: uuid.UUID,
    resource_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
) -> dict[str, Any]:
    """Every column of one event: its own id, instant and resource, then `_request_values`."""
    return {
        "id": event_id,
        "at": utcnow(),
        "resource_id": resource_id,
        "client_id": client_id,
        **shared,
    }


def _event_values(
    actor: Actor,
    action: AuditAction,
    resource_type: str | None,
    resource_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
    status: int | None = None,
) -> dict[str, Any]:
    shared = _request_values(actor, action, resource_type, status)
    return _row_values(shared, random_id(), resource_id, client_id)


def _event(
    actor: Actor,
    action: AuditAction,
    resource_type: str | None,
    resource_id: uuid.UUID | None,
    client_id: uuid.UUID | None,
    status: int | None = None,
) -> AuditEvent:
    return AuditEvent(**_event_values(actor, action, resource_type, resource_id, client_id, status))


def record(
    db: AsyncSession,
    actor: Actor,
    action: AuditAction,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> None:
    """Adds the event to the request's transaction, where it commits or rolls back with the
    work; a request that changes nothing hands it to the group-commit writer instead."""
    deferred = _deferred(db)
    if deferred is not None:
        deferred.append(_event_values(actor, action, resource_type, resource_id, client_id))
        return
    db.add(_event(actor, action, resource_type, resource_id, client_id))


async def record_each(
    db: AsyncSession,
    actor: Actor,
    action: AuditAction,
    resource_type: str,
    rows: Iterable[tuple[uuid.UUID, uuid.UUID | None]],
) -> None:
    """One event per row (resource id, client id), written as one bulk INSERT in the request's
    transaction (no ORM unit of work for rows nobody reads back): the rows a request read, or
    the row a Core write path (`app.core.statements`) wrote; a request that changes nothing
    hands them to the group-commit writer instead."""
    read = list(rows)
    shared = _request_values(actor, action, resource_type)
    values = [
        _row_values(shared, event_id, rid, cid)
        for event_id, (rid, cid) in zip(random_ids(len(read)), read, strict=True)
    ]
    deferred = _deferred(db)
    if deferred is not None:
        deferred.extend(values)
    else:
        await insert_events(db, values)


def denied_event(
    actor: Actor,
    status: int,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
) -> AuditEvent:
    """A refused request, with the resource and client its path aims at when it names one."""
    return _event(actor, AuditAction.denied, resource_type, resource_id, client_id, status=status)


def storable_path(path: str) -> str:
    """The path as every database stores it: control characters (NUL among them), unpaired
    surrogates and other unprintable characters percent-encoded, at most 500 characters."""
    if path.isprintable():
        return path[:500]
    out = []
    for char in path:
        if char.isprintable() and not "\ud800" <= char <= "\udfff":
            out.append(char)
        else:
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")))
    return "".join(out)[:500]


@dataclass(frozen=True, slots=True)
class AuditFilters:
    client_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: AuditAction | None = None
    from_: dt.datetime | None = None
    to: dt.datetime | None = None


async def list_events(
    db: AsyncSession, filters: AuditFilters, page: PageParams
) -> list[AuditEvent]:
    stmt = select(AuditEvent)
    if filters.client_id is not None:
        stmt = stmt.where(AuditEvent.client_id == filters.client_id)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action is not None:
        stmt = stmt.where(AuditEvent.action == filters.action.value)
    if filters.from_ is not None:
        stmt = stmt.where(AuditEvent.at >= filters.from_)
    if filters.to is not None:
        stmt = stmt.where(AuditEvent.at < filters.to)
    stmt = paginate_by(stmt, AuditEvent.at, AuditEvent.id, page)
    return list((await db.scalars(stmt)).all())
