"""`app.core.statements`: how a statement is planned and its arguments passed, pinned."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.writer import AUDIT_EVENTS, _unnest_insert
from app.core import statements
from app.events.models import EVENTS


def _plan(statement: Any, **params: Any) -> Any:
    plan, _ = statements._planned(statement, asyncpg.dialect(), params)  # type: ignore[no-untyped-call]
    return plan


def test_arrays_of_plain_values_go_to_the_driver_as_they_are() -> None:
    """An array whose items need no bind processing gets no processor (SQLAlchemy's would only
    copy the list); an array of timestamps keeps SQLAlchemy's, which makes each one UTC."""
    plan = _plan(_unnest_insert(AUDIT_EVENTS), **{c.name: [] for c in AUDIT_EVENTS.columns})
    binders = dict(zip(plan.names, plan.binders, strict=True))
    assert binders["action"] is None
    assert binders["actor_id"] is None
    at = binders["at"]
    assert at is not None
    paris = dt.timezone(dt.timedelta(hours=1))
    assert at([dt.datetime(2026, 1, 1, 13, tzinfo=paris)]) == [
        dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    ]


def test_parameters_the_caller_names_are_filled_in_and_literals_kept() -> None:
    """The caller's parameters go where the statement names them; a statement's own literal
    values are filled in by SQLAlchemy once, when the statement object is first run."""
    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]
    by_name = select(EVENTS.c.seq).where(EVENTS.c.resource_id == bindparam("resource_id"))
    bound = statements._bound(by_name, dialect, {"resource_id": None})
    rid = uuid.uuid4()
    assert statements._arguments(bound, {"resource_id": rid}) == [rid]

    literal = select(func.pg_advisory_xact_lock(42))
    assert statements._arguments(statements._bound(literal, dialect, {}), {}) == [42]


async def test_the_driver_is_looked_up_once_per_transaction(
    db: AsyncSession, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("on SQLite the statements run through the session")
    lookups = 0
    connection = AsyncSession.connection

    async def counted(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        nonlocal lookups
        lookups += 1
        return await connection(self, *args, **kwargs)

    monkeypatch.setattr(AsyncSession, "connection", counted)
    row: dict[str, Any] = {
        "type": "test.happened",
        "occurred_at": dt.datetime.now(dt.UTC),
        "resource_type": "test",
        "resource_id": uuid.uuid4(),
        "data": {"n": 1},
    }
    for _ in range(3):
        await statements.execute(db, insert(EVENTS), **row, id=uuid.uuid4())
    assert lookups == 1
    await db.commit()

    # the next transaction looks its connection up again, and sees what the first committed
    count = select(func.count()).select_from(EVENTS).where(EVENTS.c.type == "test.happened")
    assert await statements.fetch_one(db, count) == {"count_1": 3}
    assert lookups == 2
