"""`app.core.statements`: how a statement is planned and its arguments passed, a list of values
as one parameter, numbers read by their type, and the work done once per statement object and
per transaction rather than on every call."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.audit.writer import AUDIT_EVENTS, _unnest_insert
from app.care_plans.models import CarePlan, Goal
from app.clients.models import Client
from app.core import statements
from app.events.models import EVENTS
from tests.statements import captured

GOALS_OF = (
    select(Goal.description, Goal.baseline_value)
    .where(statements.any_of(Goal.care_plan_id, "plan_ids"))
    .order_by(Goal.description)
)


async def _plans(db: AsyncSession, n: int) -> list[uuid.UUID]:
    client = Client(given_name="List", family_name="Values")
    db.add(client)
    await db.flush()
    plans = [CarePlan(client_id=client.id, title=f"plan {i}", kind="wellness") for i in range(n)]
    db.add_all(plans)
    await db.flush()
    db.add_all(
        Goal(
            care_plan_id=plan.id,
            description=f"goal {i}",
            measure="nprs",
            baseline_value=7.5 - i,
            target_value=2,
            status="active",
        )
        for i, plan in enumerate(plans)
    )
    await db.flush()
    return [plan.id for plan in plans]


async def test_any_of_matches_a_list_of_values_with_one_statement(
    db: AsyncSession, connection: AsyncConnection, backend: str
) -> None:
    plan_ids = await _plans(db, 3)
    with captured(connection) as sent:
        for wanted in ([], plan_ids[:1], plan_ids):
            rows = await statements.fetch(db, GOALS_OF, plan_ids=wanted)
            assert [row["description"] for row in rows] == [f"goal {i}" for i in range(len(wanted))]
    if backend == "postgresql":  # one array parameter: the same SQL whatever the number
        assert len({sql for sql, _ in sent}) == 1


async def test_float_columns_come_back_as_floats(db: AsyncSession) -> None:
    """asyncpg hands double precision over as float: SQLAlchemy's processor for it depends on
    the type PostgreSQL sends, which the statement's plan supplies."""
    plan_ids = await _plans(db, 2)
    rows = await statements.fetch(db, GOALS_OF, plan_ids=plan_ids)
    assert [row["baseline_value"] for row in rows] == [7.5, 6.5]
    assert all(type(row["baseline_value"]) is float for row in rows)


NAMED = select(Client.id).where(Client.family_name == bindparam("family_name"))


async def test_statement_objects_keep_their_own_literals(db: AsyncSession) -> None:
    """Two objects of one shape, with literal values of their own, each reads with its own."""
    db.add_all([Client(given_name=name, family_name="Literal") for name in ("Ann", "Bob")])
    await db.flush()

    def named(given: str) -> Any:
        return select(Client.given_name).where(
            Client.given_name == given, Client.family_name == bindparam("family_name")
        )

    ann, bob = named("Ann"), named("Bob")
    for _ in range(2):
        assert await statements.fetch(db, ann, family_name="Literal") == [{"given_name": "Ann"}]
        assert await statements.fetch(db, bob, family_name="Literal") == [{"given_name": "Bob"}]


async def test_a_statement_object_is_planned_once(
    db: AsyncSession, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs statements through the session")
    planned = 0
    plan_of = statements._planned

    def counting(*args: Any) -> Any:
        nonlocal planned
        planned += 1
        return plan_of(*args)

    monkeypatch.setattr(statements, "_planned", counting)
    statement = select(Client.id).where(
        Client.family_name == bindparam("family_name"), Client.id.is_not(None)
    )
    for name in ("A", "B", "C"):
        await statements.fetch(db, statement, family_name=name)
    assert planned == 1


async def test_the_driver_connection_is_looked_up_once_per_transaction(
    db: AsyncSession, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs statements through the session")
    lookups = 0
    connection_of = db.connection

    async def counting(**kw: Any) -> Any:
        nonlocal lookups
        lookups += 1
        return await connection_of(**kw)

    monkeypatch.setattr(db, "connection", counting)
    for name in ("A", "B", "C"):
        await statements.fetch(db, NAMED, family_name=name)
    assert lookups == 1
    await db.commit()  # a new transaction: its connection is looked up again, and used
    db.add(Client(given_name="After", family_name="Commit"))
    await db.flush()
    assert len(await statements.fetch(db, NAMED, family_name="Commit")) == 1
    assert lookups == 2


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
