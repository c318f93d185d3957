"""Group commit for the audit events of reads.

A request that changes nothing (GET, HEAD) still leaves audit events: who read which client's
data. Those events need no atomicity with a change, only durability before the answer leaves.
So they do not ride in the request's transaction: the request hands them to this writer and
waits; the writer inserts every event handed over while its previous batch was being written in
one multi-row INSERT, commits once, and wakes all the requests of that batch. Under load many
requests share one INSERT and one commit (one fsync); a lone request pays one round trip, as
before. No response is sent before its events are committed: if the write fails, the request
fails with it.

On SQLite this is what lets reads run side by side: a read request's own transaction never
writes, so it needs no write lock (see `app.core.db.read_only_transaction`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.models import AuditEvent
from app.core import statements
from app.core.db import read_only_transaction

AUDIT_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]


def _unnest_insert(table: Table) -> TextClause:
    """`INSERT … SELECT * FROM unnest(<one array per column>)`: a batch of any size is one
    statement with one parameter per column, so PostgreSQL prepares it once."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    columns = list(table.columns)
    arrays = ", ".join(f"CAST(:{c.name} AS {c.type.compile(dialect=dialect)}[])" for c in columns)
    names = ", ".join(c.name for c in columns)
    return text(f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})").bindparams(
        *(bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in columns)
    )


_UNNEST: dict[str, TextClause] = {}
_INSERT_ONE = insert(AUDIT_EVENTS)  # built on first use, once per table


def as_columns(table: Table, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows (every column given) turned into one list per column, in the table's order."""
    return {c.name: [row[c.name] for row in rows] for c in table.columns}


async def insert_events(
    session: AsyncSession, rows: list[dict[str, Any]], *, alone: bool = False
) -> None:
    """Audit rows (every column given) in one statement and without the ORM's unit of work: on
    PostgreSQL one `unnest` INSERT for a batch (a plain INSERT for one row), run by
    `app.core.statements`; on SQLite
    an executemany, which runs in process. `alone`: the insert is all the transaction would hold
    (the group commit), so on PostgreSQL it commits on its own."""
    if not rows:
        return
    if statements.bound_dialect(session).name == "postgresql":
        if len(rows) == 1:  # a write's own event: a plain INSERT, no arrays to build
            await statements.execute(session, _INSERT_ONE, alone=alone, **rows[0])
            return
        statement = _UNNEST.get(AUDIT_EVENTS.name)
        if statement is None:
            statement = _UNNEST[AUDIT_EVENTS.name] = _unnest_insert(AUDIT_EVENTS)
        await statements.execute(session, statement, alone=alone, **as_columns(AUDIT_EVENTS, rows))
    else:
        connection = await session.connection()
        await connection.execute(insert(AUDIT_EVENTS), rows)


Batch = list[tuple[list[dict[str, Any]], "asyncio.Future[None]"]]


class AuditWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._pending: Batch = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches_written = 0
        self.events_written = 0

    async def write(self, events: list[dict[str, Any]]) -> None:
        """Returns once `events` are committed; raises if they could not be."""
        if not events:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        # a request cancelled while it waits cancels its own wait, never the batch's write
        await done

    async def drain(self) -> None:
        """Waits for everything handed over so far (at shutdown)."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        # the writer's transactions write: never the read-only kind of the request that woke it
        token = read_only_transaction.set(False)
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [row for events, _ in batch for row in events]
                try:
                    async with self._sessionmaker() as session:
                        await insert_events(session, rows, alone=True)
                        await session.commit()
                except Exception as exc:  # every waiting request fails with the write
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self.batches_written += 1
                self.events_written += len(rows)
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            read_only_transaction.reset(token)
