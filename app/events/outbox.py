"""The transactional outbox: resources declare their events, the write path records them.

A model declares what its changes emit with a class attribute::

    class Goal(Resource, Archivable):
        __events__ = Emits("goal", changed=(Change("goal.updated"),), read=read_as(GoalRead))

and nothing else has to remember anything. Two listeners on every ORM session do the rest:

* `after_flush` looks at the rows the flush inserted or changed, and for each one of a declared
  type notes the event its declaration picks (creation, or the first `Change` that matches the
  attributes that changed), with the time of the change;
* `before_commit` flushes what is left, reads each noted resource once as an admin reads it (the
  declaration's `read`, run on the state about to be committed) and inserts the event rows in the
  same transaction. A rollback forgets the notes: no change, no event.

A hot write path that writes its rows with Core statements (`app.core.statements`) leaves no ORM
row to note: it calls `emit` with the event's `data` itself, last before the commit, and the
event row goes in at once, under the same sequencer.

**Commit order, never skipping an event.** A sequence number is taken when the row is inserted,
and on PostgreSQL transactions can commit in another order than they took their numbers: a
reader that has seen 12 (committed) may later find 11 (committed late) behind its cursor. The
events are therefore numbered by a single sequencer: on PostgreSQL, before inserting its events,
the committing transaction takes a transaction-level advisory lock (`EVENT_SEQUENCER_LOCK`) that
is released only after the commit is visible to everybody. Transactions that write events thus
take their numbers and commit one at a time, in number order, so `seq` order *is* commit order
and the committed events always form a gap-free prefix (rolled-back numbers aside) of the
sequence: a reader that saw `seq` N has seen every committed event below N and will never be
handed a smaller one. The lock is held only from the event insert to the end of the commit, so
transactions serialise only on that short tail. SQLite serialises all writers anyway (BEGIN
IMMEDIATE), so its increasing row id is already commit order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pydantic import BaseModel
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction, selectinload
from sqlalchemy.orm.util import identity_key

from app.core import statements
from app.core.db import utcnow
from app.core.ids import random_id
from app.events.models import EVENTS

# the advisory lock that makes PostgreSQL number events in commit order (any fixed 64-bit key)
EVENT_SEQUENCER_LOCK = 0x636172_65706C61  # "careepla"
_SEQUENCER = select(func.pg_advisory_xact_lock(EVENT_SEQUENCER_LOCK))
_INSERT_EVENT = insert(EVENTS).inline()  # `seq` is the database's: nothing to read back

_PENDING = "careplan_outbox"

# (session, model, resource ids) -> {resource id: the resource as JSON, as an admin reads it}
Reader: TypeAlias = Callable[[Session, type[Any], Sequence[uuid.UUID]], dict[uuid.UUID, Any]]


@dataclass(frozen=True)
class Change:
    """An event a change emits: when `to` is given, only when those attributes were set to those
    values in the change; when `fields` is given, only when one of them changed; otherwise on
    any change of a column."""

    type: str
    to: Mapping[str, Any] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Emits:
    """The events of a resource. `resource_id` names the attribute that holds the id of the
    resource the event is about, and `resource_model` its model, when a row's events are its
    parent's (an addendum is a change of its session)."""

    resource_type: str
    read: Reader
    created: str | None = None
    changed: tuple[Change, ...] = ()
    resource_id: str = "id"
    resource_model: type[Any] | None = None


def read_as(build: Callable[[Any], BaseModel], *load: str) -> Reader:
    """A reader that builds each row with `build` (a read schema's constructor) as it is about
    to be committed. Rows the session holds fully loaded (everything flushed, nothing expired)
    are built as they are, without a query; others are loaded, with the relationships named in
    `load` (refreshed, so rows written beside them, e.g. an addendum, are in)."""

    def read(db: Session, model: type[Any], ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        out: dict[uuid.UUID, Any] = {}
        missing: list[uuid.UUID] = []
        for row_id in ids:
            row = None if load else db.identity_map.get(identity_key(model, row_id))
            if row is not None and not inspect(row).unloaded:
                out[row_id] = build(row).model_dump(mode="json")
            else:
                missing.append(row_id)
        if missing:
            stmt = (
                select(model).where(model.id.in_(missing)).execution_options(populate_existing=True)
            )
            for name in load:
                stmt = stmt.options(selectinload(getattr(model, name)))
            out.update({row.id: build(row).model_dump(mode="json") for row in db.scalars(stmt)})
        return out

    return read


def all_event_types() -> frozenset[str]:
    """Every event type some model declares (models must be imported: `app.models` does it)."""
    from app.core.db import Base

    types: set[str] = set()
    for mapper in Base.registry.mappers:
        emits: Emits | None = getattr(mapper.class_, "__events__", None)
        if emits is None:
            continue
        if emits.created:
            types.add(emits.created)
        types.update(change.type for change in emits.changed)
    return frozenset(types)


@dataclass(frozen=True, slots=True)
class _Noted:
    kind: str
    emits: Emits
    model: type[Any]
    resource_id: uuid.UUID
    occurred_at: dt.datetime
    # the changed row itself: held until the commit, so that the session's identity map still
    # has it when the event's `data` is built (it holds clean rows only weakly)
    row: Any = field(repr=False, compare=False)


def _changed_event(emits: Emits, row: Any) -> str | None:
    state = inspect(row)
    changed = {
        attr.key
        for attr in state.mapper.column_attrs
        if attr.key not in ("updated_at", "version") and state.attrs[attr.key].history.has_changes()
    }
    if not changed:
        return None
    for change in emits.changed:
        if change.fields and not change.fields & changed:
            continue
        if change.to and not all(
            name in changed and getattr(row, name) == value for name, value in change.to.items()
        ):
            continue
        return change.type
    return None


@sa_event.listens_for(Session, "after_flush")
def note_events(session: Session, _flush: UOWTransaction) -> None:
    now = utcnow()
    noted: list[_Noted] = session.info.setdefault(_PENDING, [])
    for row in session.new:
        emits: Emits | None = getattr(type(row), "__events__", None)
        if emits is not None and emits.created:
            noted.append(_note(emits.created, emits, row, now))
    for row in session.dirty:
        emits = getattr(type(row), "__events__", None)
        if emits is None or not session.is_modified(row, include_collections=False):
            continue
        kind = _changed_event(emits, row)
        if kind is not None:
            noted.append(_note(kind, emits, row, now))


def _note(kind: str, emits: Emits, row: Any, now: dt.datetime) -> _Noted:
    return _Noted(
        kind, emits, emits.resource_model or type(row), getattr(row, emits.resource_id), now, row
    )


@sa_event.listens_for(Session, "before_commit")
def write_events(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # commit would flush after this listener: note those changes now
    noted: list[_Noted] = session.info.pop(_PENDING, [])
    if not noted:
        return
    data = _read_resources(session, noted)
    rows = [
        _event_row(
            item.kind,
            item.occurred_at,
            item.emits.resource_type,
            item.resource_id,
            data[(item.model, item.resource_id)],
        )
        for item in noted
        # a row a rolled-back savepoint took with it changed nothing
        if (item.model, item.resource_id) in data
    ]
    if not rows:
        return
    connection = session.connection()
    if _takes_the_sequencer(connection.dialect.name):
        connection.execute(_SEQUENCER)
    session.execute(_INSERT_EVENT, rows)


async def emit(
    db: AsyncSession, kind: str, resource_type: str, resource_id: uuid.UUID, data: Any
) -> None:
    """Writes the event of a change made with Core statements (`app.core.statements`), which
    leaves no ORM row for `note_events` to see: inserted now, in the request's transaction,
    under the same sequencer as `write_events`. `data` is the resource as JSON, as an admin
    reads it. Call it last, just before the commit: on PostgreSQL the sequencer is held from
    here to the end of the commit."""
    row = _event_row(kind, utcnow(), resource_type, resource_id, data)
    if _takes_the_sequencer(statements.bound_dialect(db).name):
        await statements.execute(db, _SEQUENCER)
    await statements.execute(db, _INSERT_EVENT, **row)


def _event_row(
    kind: str, occurred_at: dt.datetime, resource_type: str, resource_id: uuid.UUID, data: Any
) -> dict[str, Any]:
    """An event as the `events` table stores it (its `seq` is the database's)."""
    return {
        "id": random_id(),
        "type": kind,
        "occurred_at": occurred_at,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "data": data,
    }


def _takes_the_sequencer(dialect_name: str) -> bool:
    """PostgreSQL numbers events one committing transaction at a time (see above); SQLite
    serialises all writers anyway."""
    return dialect_name == "postgresql"


def _read_resources(session: Session, noted: list[_Noted]) -> dict[tuple[type[Any], Any], Any]:
    wanted: dict[tuple[type[Any], Reader], set[uuid.UUID]] = {}
    for item in noted:
        wanted.setdefault((item.model, item.emits.read), set()).add(item.resource_id)
    out: dict[tuple[type[Any], Any], Any] = {}
    for (model, read), ids in wanted.items():
        for resource_id, body in read(session, model, sorted(ids)).items():
            out[(model, resource_id)] = body
    return out


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_events(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
