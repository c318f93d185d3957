"""Running a Core statement on the request's connection with as little machinery as possible.

The hot paths (a client, a page of clients, a summary, a new client) build their statements with
SQLAlchemy Core and run them here instead of through the ORM session:

- **PostgreSQL**: the statement is compiled once per shape (SQLAlchemy's own cache key) and run
  on the asyncpg connection the session already holds, with the bind and result processors
  SQLAlchemy would apply. No ORM unit of work, identity map, result object or greenlet switch.
  A write (any request but GET and HEAD) runs inside the session's transaction, which this
  starts the way SQLAlchemy starts it; a read-only request's reads run outside a transaction
  (under READ COMMITTED a transaction gives several reads no common snapshot anyway), which
  saves the BEGIN and COMMIT round trips.
- **SQLite**: the statement runs through the session (`AsyncSession.execute`).

Either way the rows come back as plain dicts keyed by column name, so the callers are the same
on both databases. Statements use named `bindparam`s or literal values, never expanding `IN`
lists: the compiled SQL of a shape is reused for every request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Executable, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import ARRAY, TypeEngine

from app.core.db import read_only_transaction

Row = dict[str, Any]
_Processor = Callable[[Any], Any]

_CACHE_SIZE = 500

observers: list[Callable[[str, Sequence[Any]], None]] = []
"""Called with the SQL and the arguments of each statement run on the driver's connection (on
PostgreSQL), as SQLAlchemy's `before_cursor_execute` is for the statements it runs."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """One statement shape compiled for PostgreSQL: its SQL, the order of its parameters with
    their bind processors, and its result columns with their result processors. `given`: the
    caller's parameters name every parameter (no literal value of the statement to fill in)."""

    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]
    given: bool
    binders: tuple[_Processor | None, ...]
    columns: tuple[str, ...]
    readers: tuple[tuple[int, _Processor], ...]


_PLANS: OrderedDict[Any, _Plan] = OrderedDict()


def _plan(statement: ClauseElement, dialect: Dialect, key: Any, keys: Sequence[str]) -> _Plan:
    compiled = statement.compile(dialect=dialect, cache_key=key, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("expanding parameters (IN lists) are not supported here")
    names = tuple(compiled.positiontup or ())
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    binders = tuple(_binder(by_name[name].type, dialect) for name in names)
    result_columns = compiled._result_columns
    readers = tuple(
        (i, reader)
        for i, entry in enumerate(result_columns)
        if (reader := entry.type._cached_result_processor(dialect, None)) is not None
    )
    return _Plan(
        compiled,
        compiled.string,
        names,
        set(names) <= set(keys),
        binders,
        tuple(entry.keyname for entry in result_columns),
        readers,
    )


def _binder(type_: TypeEngine[Any], dialect: Dialect) -> _Processor | None:
    """SQLAlchemy's bind processor for a type, but none for an array of values that need none
    (its processor would only copy the list, which the driver takes as it is)."""
    if isinstance(type_, ARRAY) and type_.item_type._cached_bind_processor(dialect) is None:
        return None
    processor: _Processor | None = type_._cached_bind_processor(dialect)
    return processor


def _planned(
    statement: ClauseElement, dialect: Dialect, params: Mapping[str, Any]
) -> tuple[_Plan, Any]:
    key = statement._generate_cache_key()
    if key is None:
        raise ValueError("this statement cannot be cached")
    # an INSERT or UPDATE sets the columns its parameters name: they are part of its shape
    shape = (key.key, tuple(params))
    plan = _PLANS.get(shape)
    if plan is None:
        plan = _PLANS[shape] = _plan(statement, dialect, key, tuple(params))
        if len(_PLANS) > _CACHE_SIZE:
            _PLANS.popitem(last=False)
    return plan, key.bindparams


_DRIVER = "careplan.statements.driver"


def bound_dialect(db: AsyncSession) -> Dialect:
    """The dialect of the database the session is bound to."""
    bind = db.sync_session.bind  # not `db.bind`, which wraps it in an async proxy each time
    assert bind is not None, "the request's session is bound to an engine or a connection"
    return bind.dialect


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, _transaction: Any) -> None:
    """The session's connection goes back to the pool when its transaction ends."""
    session.info.pop(_DRIVER, None)


async def _driver(db: AsyncSession, *, writes: bool) -> Any:
    """The asyncpg connection under the session (looked up once per session transaction), in
    the session's transaction when the request may write."""
    adapted: Any = db.info.get(_DRIVER)
    if adapted is None:
        connection = await db.connection()
        adapted = db.info[_DRIVER] = (await connection.get_raw_connection()).dbapi_connection
    if writes and adapted._transaction is None:
        # what SQLAlchemy's asyncpg adapter does before its first statement
        await adapted._start_transaction()
    return adapted


async def _run(
    adapted: Any, dialect: Dialect, sql: str, arguments: Sequence[Any], rows: bool
) -> Sequence[Any]:
    """Runs the SQL on the driver. The driver's errors are raised as SQLAlchemy raises them (an
    `IntegrityError` for a broken constraint, which the API answers with 409), so code above
    does not know which way a statement ran."""
    for observe in observers:
        observe(sql, arguments)
    try:
        if rows:
            records: Sequence[Any] = await adapted._connection.fetch(sql, *arguments)
            return records
        await adapted._connection.execute(sql, *arguments)
        return ()
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        try:
            adapted._handle_exception(error)  # raises the DB-API form of the error
        except Exception as dbapi_error:
            raise DBAPIError.instance(
                sql, arguments, dbapi_error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        raise


def _arguments(plan: _Plan, extracted: Any, params: Mapping[str, Any]) -> Sequence[Any]:
    values: Mapping[str, Any] | None = params
    if not plan.given:
        values = plan.compiled.construct_params(params, extracted_parameters=extracted)
    assert values is not None
    return [
        value if binder is None or value is None else binder(value)
        for binder, value in zip(plan.binders, (values[name] for name in plan.names), strict=True)
    ]


def _rows(plan: _Plan, records: Sequence[Any]) -> list[Row]:
    columns = plan.columns
    if not plan.readers:
        return [dict(zip(columns, record, strict=True)) for record in records]
    out = []
    for record in records:
        values = list(record)
        for i, reader in plan.readers:
            if values[i] is not None:
                values[i] = reader(values[i])
        out.append(dict(zip(columns, values, strict=True)))
    return out


async def fetch(db: AsyncSession, statement: Executable, **params: Any) -> list[Row]:
    """The rows a statement returns (a SELECT, or a write with RETURNING), as dicts."""
    dialect = bound_dialect(db)
    if dialect.name != "postgresql":
        result = await db.execute(statement, params or None)
        return [dict(row) for row in result.mappings()]
    assert isinstance(statement, ClauseElement)
    plan, extracted = _planned(statement, dialect, params)
    adapted = await _driver(db, writes=not read_only_transaction.get())
    records = await _run(adapted, dialect, plan.sql, _arguments(plan, extracted, params), True)
    return _rows(plan, records)


async def fetch_one(db: AsyncSession, statement: Executable, **params: Any) -> Row | None:
    """The one row a statement returns, or None."""
    rows = await fetch(db, statement, **params)
    if len(rows) > 1:
        raise ValueError("the statement returned more than one row")
    return rows[0] if rows else None


async def execute(
    db: AsyncSession, statement: Executable, *, alone: bool = False, **params: Any
) -> None:
    """A write without result rows, in the request's transaction. `alone`: a single statement
    that needs no transaction around it; on PostgreSQL it commits on its own (one round trip
    instead of three), on SQLite it stays in the session's transaction, which the caller
    commits either way."""
    dialect = bound_dialect(db)
    if dialect.name != "postgresql":
        await db.execute(statement, params or None)
        return
    assert isinstance(statement, ClauseElement)
    plan, extracted = _planned(statement, dialect, params)
    adapted = await _driver(db, writes=not alone)
    await _run(adapted, dialect, plan.sql, _arguments(plan, extracted, params), False)
