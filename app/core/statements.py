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
lists: the compiled SQL of a shape is reused for every request. A column matched against a list
of values is `any_of(column, name)`: one array parameter on PostgreSQL, whatever the number of
values.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Executable,
    Float,
    Numeric,
    SQLColumnExpression,
    bindparam,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal

from app.core.db import read_only_transaction

Row = dict[str, Any]
_Processor = Callable[[Any], Any]

_CACHE_SIZE = 500

observers: list[Callable[[str, Sequence[Any]], None]] = []
"""Called with the SQL and the arguments of each statement run on the driver's connection (on
PostgreSQL), as SQLAlchemy's `before_cursor_execute` is for the statements it runs."""


class _AnyOf(ColumnElement[bool]):
    """`column = ANY(:name)` on PostgreSQL, `column IN (:name)` (expanded) elsewhere."""

    __visit_name__ = "any_of"
    inherit_cache = True
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()

    def __init__(self, column: SQLColumnExpression[Any], name: str) -> None:
        self.column: ColumnElement[Any] = coercions.expect(roles.ExpressionElementRole, column)
        self.values = bindparam(name, type_=ARRAY(self.column.type))


@compiles(_AnyOf, "postgresql")
def _any_of_postgresql(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY ({compiler.process(element.values, **kw)})"


@compiles(_AnyOf)
def _any_of_elsewhere(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.values.key, type_=element.column.type, expanding=True)
    return str(compiler.process(element.column.in_(values), **kw))


def any_of(column: SQLColumnExpression[Any], name: str) -> ColumnElement[bool]:
    """The column equals one of the values given as parameter `name` (a list): one compiled
    SQL for any number of values."""
    return _AnyOf(column, name)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One statement shape compiled for PostgreSQL: its SQL, the order of its parameters with
    their bind processors, and its result columns with their result processors."""

    compiled: SQLCompiler
    sql: str
    names: tuple[str, ...]
    binders: tuple[_Processor | None, ...]
    columns: tuple[str, ...]
    readers: tuple[tuple[int, _Processor], ...]


_PLANS: OrderedDict[Any, _Plan] = OrderedDict()


# PostgreSQL's type codes for double precision and numeric
_FLOAT8, _NUMERIC = 701, 1700


def _type_code(type_: TypeEngine[Any]) -> int | None:
    """The PostgreSQL type a result column of this type arrives as, for the result processors
    that depend on it: asyncpg hands a float column over as a float and a numeric one as a
    Decimal, and SQLAlchemy's processors for numbers convert according to that."""
    affinity = type_._type_affinity
    if affinity is not None and issubclass(affinity, Float):
        return _FLOAT8
    if affinity is not None and issubclass(affinity, Numeric):
        return _NUMERIC
    return None


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
        if (reader := entry.type._cached_result_processor(dialect, _type_code(entry.type)))
        is not None
    )
    return _Plan(
        compiled,
        compiled.string,
        names,
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


@dataclass(frozen=True, slots=True)
class _Bound:
    """A plan with the values one statement object carries itself (its literals) already
    processed, in order: per call only the caller's parameters are left to fill in."""

    statement: ClauseElement  # held, so that its id is never another statement's while cached
    plan: _Plan
    given: tuple[tuple[int, str, _Processor | None], ...]  # (position, parameter, processor)
    template: tuple[Any, ...]  # the arguments, the caller's still missing


_BOUND: OrderedDict[tuple[int, tuple[str, ...]], _Bound] = OrderedDict()


def _bound(statement: ClauseElement, dialect: Dialect, params: Mapping[str, Any]) -> _Bound:
    """The plan of a statement object, found by the object itself: a statement built once (at
    import) is compiled and its cache key generated once, not on every call."""
    names = tuple(params)
    found = _BOUND.get((id(statement), names))
    if found is not None and found.statement is statement:
        return found
    plan, extracted = _planned(statement, dialect, params)
    if any(bind.callable is not None for bind in plan.compiled.binds.values()):
        raise ValueError("bind parameters with a callable are not supported here")
    values = plan.compiled.construct_params(params, extracted_parameters=extracted)
    assert values is not None
    given = []
    template = []
    for position, (name, binder) in enumerate(zip(plan.names, plan.binders, strict=True)):
        value = values[name]
        if name in params:
            given.append((position, name, binder))
            value = None
        elif binder is not None and value is not None:
            value = binder(value)
        template.append(value)
    found = _BOUND[(id(statement), names)] = _Bound(statement, plan, tuple(given), tuple(template))
    if len(_BOUND) > _CACHE_SIZE:
        _BOUND.popitem(last=False)
    return found


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


def has_work_to_commit(db: AsyncSession) -> bool:
    """Whether the session's transaction may hold something to commit. Not when the only use
    of its connection was reads run here outside a transaction (a read-only request on
    PostgreSQL): closing the session then gives the connection back with nothing to end."""
    if not db.in_transaction():
        return False
    adapted = db.info.get(_DRIVER)
    if adapted is None or adapted._transaction is not None:
        return True
    orm = db.sync_session
    return bool(orm.new or orm.dirty or orm.deleted)


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


def _arguments(bound: _Bound, params: Mapping[str, Any]) -> list[Any]:
    arguments = list(bound.template)
    for position, name, binder in bound.given:
        value = params[name]
        arguments[position] = value if binder is None or value is None else binder(value)
    return arguments


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
    bound = _bound(statement, dialect, params)
    adapted = await _driver(db, writes=not read_only_transaction.get())
    records = await _run(adapted, dialect, bound.plan.sql, _arguments(bound, params), True)
    return _rows(bound.plan, records)


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
    bound = _bound(statement, dialect, params)
    adapted = await _driver(db, writes=not alone)
    await _run(adapted, dialect, bound.plan.sql, _arguments(bound, params), False)
