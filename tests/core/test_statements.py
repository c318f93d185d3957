"""`app.core.statements`: a Core statement run on the driver's connection gives what SQLAlchemy
gives (types, JSON, UTC timestamps), applies the bind processors, and writes inside the
request's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.clients.models import Client
from app.core import statements
from app.core.db import make_sessionmaker, read_only_transaction

CLIENTS = cast(Table, Client.__table__)
ONE_CLIENT = select(*CLIENTS.c).where(CLIENTS.c.id == bindparam("client_id"))


def _client_values(**extra: Any) -> dict[str, Any]:
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
    return {
        "id": uuid.uuid4(),
        "given_name": "Zoë",
        "family_name": "Haddad",
        "date_of_birth": dt.date(1984, 3, 2),
        "emergency_contact": {"name": "Sam", "phone": "+44 20 7946 0000", "nested": [1, 2.5]},
        "created_at": now,
        "updated_at": now,
        "version": 1,
        **extra,
    }


async def test_rows_are_what_sqlalchemy_reads(db: AsyncSession) -> None:
    values = _client_values()
    await statements.execute(db, insert(CLIENTS), **values)
    ours = await statements.fetch_one(db, ONE_CLIENT, client_id=values["id"])
    theirs = dict((await db.execute(ONE_CLIENT, {"client_id": values["id"]})).mappings().one())
    assert ours == theirs
    assert ours is not None
    assert {name: type(value) for name, value in ours.items()} == {
        name: type(value) for name, value in theirs.items()
    }
    assert ours["emergency_contact"] == values["emergency_contact"]
    assert ours["created_at"] == values["created_at"]
    assert ours["created_at"].utcoffset() == dt.timedelta(0)
    assert await statements.fetch_one(db, ONE_CLIENT, client_id=uuid.uuid4()) is None


async def test_literal_values_of_each_statement_are_its_own(db: AsyncSession) -> None:
    """Statements of one shape share their compiled SQL, never their values."""
    first, second = _client_values(), _client_values(given_name="Other")
    for values in (first, second):
        await statements.execute(db, insert(CLIENTS), **values)
    for values in (first, second):
        row = await statements.fetch_one(
            db, select(CLIENTS.c.given_name).where(CLIENTS.c.id == values["id"])
        )
        assert row == {"given_name": values["given_name"]}


async def test_bind_processors_apply(db: AsyncSession) -> None:
    """The `UTCDateTime` column refuses a naive timestamp, and takes an aware one in any zone."""
    naive = select(CLIENTS.c.id).where(CLIENTS.c.created_at < bindparam("at"))
    # SQLAlchemy wraps the processor's ValueError in a StatementError
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        await statements.fetch(db, naive, at=dt.datetime(2026, 1, 1))  # noqa: DTZ001
    values = _client_values()
    await statements.execute(db, insert(CLIENTS), **values)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    rows = await statements.fetch(
        db,
        select(CLIENTS.c.id).where(
            CLIENTS.c.id == values["id"], CLIENTS.c.created_at == bindparam("at")
        ),
        at=values["created_at"].astimezone(plus_two),
    )
    assert rows == [{"id": values["id"]}]


async def test_more_than_one_row_is_an_error(db: AsyncSession) -> None:
    for _ in range(2):
        await statements.execute(db, insert(CLIENTS), **_client_values(family_name="Twin"))
    with pytest.raises(ValueError, match="more than one row"):
        await statements.fetch_one(db, select(CLIENTS.c.id).where(CLIENTS.c.family_name == "Twin"))


async def test_a_write_belongs_to_the_request_transaction(engine: AsyncEngine) -> None:
    """On a session of its own (no test transaction around it), a write made here is rolled
    back with the session, and committed with it: it ran in the session's transaction."""
    sessionmaker = make_sessionmaker(engine)
    kept, dropped = _client_values(), _client_values()
    token = read_only_transaction.set(False)
    try:
        async with sessionmaker() as session:
            await statements.execute(session, insert(CLIENTS), **dropped)
            await session.rollback()
        async with sessionmaker() as session:
            await statements.execute(session, insert(CLIENTS), **kept)
            await session.commit()
        async with sessionmaker() as session:
            found = await statements.fetch(
                session,
                select(CLIENTS.c.id).where(
                    or_(CLIENTS.c.id == kept["id"], CLIENTS.c.id == dropped["id"])
                ),
            )
        assert found == [{"id": kept["id"]}]
    finally:
        read_only_transaction.reset(token)
        async with sessionmaker() as session:
            await session.execute(
                delete(CLIENTS).where(CLIENTS.c.id.in_([kept["id"], dropped["id"]]))
            )
            await session.commit()


async def test_observers_see_driver_statements(db: AsyncSession, backend: str) -> None:
    seen: list[str] = []

    def observe(sql: str, _arguments: object) -> None:
        seen.append(sql)

    statements.observers.append(observe)
    try:
        await statements.fetch(db, ONE_CLIENT, client_id=uuid.uuid4())
    finally:
        statements.observers.remove(observe)
    # on SQLite the statement goes through the session, where SQLAlchemy's events see it
    assert len(seen) == (1 if backend == "postgresql" else 0)
    if seen:
        assert seen[0].startswith("SELECT clients.")
        assert "FROM clients" in seen[0]


async def test_expanding_lists_are_refused_on_postgresql(db: AsyncSession, backend: str) -> None:
    """An `IN` list changes the SQL with its length: not a statement compiled once."""
    if backend != "postgresql":
        pytest.skip("SQLite runs the statement through the session")
    with pytest.raises(ValueError, match="expanding"):
        await statements.fetch(db, select(CLIENTS.c.id).where(CLIENTS.c.id.in_([uuid.uuid4()])))


async def test_a_write_alone_commits_on_its_own_on_postgresql(
    engine: AsyncEngine, backend: str
) -> None:
    """`alone`: one statement that is its own transaction (the audit trail's group commit), so
    a rollback of the session after it does not take it back; on SQLite it stays in the
    session's transaction."""
    sessionmaker = make_sessionmaker(engine)
    values = _client_values()
    token = read_only_transaction.set(False)
    try:
        async with sessionmaker() as session:
            await statements.execute(session, insert(CLIENTS), alone=True, **values)
            await session.rollback()
        async with sessionmaker() as session:
            found = await statements.fetch(session, ONE_CLIENT, client_id=values["id"])
        assert len(found) == (1 if backend == "postgresql" else 0)
    finally:
        read_only_transaction.reset(token)
        async with sessionmaker() as session:
            await session.execute(delete(CLIENTS).where(CLIENTS.c.id == values["id"]))
            await session.commit()


async def test_the_connection_is_looked_up_again_after_the_transaction_ends(
    engine: AsyncEngine,
) -> None:
    """The driver connection is remembered for the session's transaction only: after a commit
    the session's connection is back in the pool, and a write then runs (and rolls back) in
    the session's next transaction."""
    sessionmaker = make_sessionmaker(engine)
    values = _client_values()
    token = read_only_transaction.set(False)
    try:
        async with sessionmaker() as session:
            await statements.fetch(session, ONE_CLIENT, client_id=uuid.uuid4())
            await session.commit()
            assert not any(key.startswith("careplan.statements") for key in session.info)
            await statements.execute(session, insert(CLIENTS), **values)
            await session.rollback()
        async with sessionmaker() as session:
            assert await statements.fetch(session, ONE_CLIENT, client_id=values["id"]) == []
    finally:
        read_only_transaction.reset(token)
        async with sessionmaker() as session:
            await session.execute(delete(CLIENTS).where(CLIENTS.c.id == values["id"]))
            await session.commit()


async def test_a_broken_constraint_is_sqlalchemys_integrity_error(db: AsyncSession) -> None:
    """Whichever way a statement ran, a constraint it breaks is an `IntegrityError` (409)."""
    values = _client_values()
    await statements.execute(db, insert(CLIENTS), **values)
    await db.begin_nested()  # so the session outlives the error
    with pytest.raises(IntegrityError):
        await statements.execute(db, insert(CLIENTS), **values)


async def test_reads_outside_a_transaction_leave_nothing_to_commit(
    engine: AsyncEngine, backend: str
) -> None:
    """A read-only request's reads leave nothing to commit on PostgreSQL (they ran outside a
    transaction); a write, an ORM change or any use of the session on SQLite does."""
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session:
        assert not statements.has_work_to_commit(session)
        token = read_only_transaction.set(True)
        try:
            await statements.fetch(session, ONE_CLIENT, client_id=uuid.uuid4())
        finally:
            read_only_transaction.reset(token)
        assert statements.has_work_to_commit(session) == (backend != "postgresql")
        session.add(Client(given_name="Not", family_name="Kept"))
        assert statements.has_work_to_commit(session)
        await session.rollback()
    async with sessionmaker() as session:
        token = read_only_transaction.set(False)
        try:
            await statements.fetch(session, ONE_CLIENT, client_id=uuid.uuid4())
        finally:
            read_only_transaction.reset(token)
        assert statements.has_work_to_commit(session)
        await session.rollback()


def test_json_text_is_json_whatever_orjson_cannot_write() -> None:
    """PostgreSQL's JSON columns get orjson's text, or the standard library's where orjson
    refuses (integers beyond 64 bits, keys that are not strings): never an error."""
    import json

    from app.core.db import json_text

    for value in ({"name": "Zoë", "n": [1, 2.5, None, True]}, {"big": 2**70}, {1: "one"}):
        assert json.loads(json_text(value)) == json.loads(json.dumps(value))
