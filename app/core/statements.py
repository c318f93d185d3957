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

from sqlalchemy import Boolean, ColumnElement, Executable, Float, Numeric, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
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

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.values = bindparam(name, type_=ARRAY(column.type))


@compiles(_AnyOf, "postgresql")
def _any_of_postgresql(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY ({compiler.process(element.values, **kw)})"


@compiles(_AnyOf)
def _any_of_elsewhere(element: _AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.values.key, type_=element.column.type, expanding=True)
    return str(compiler.process(element.column.in_(values), **kw))


def any_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
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
    binders = tuple(by_name[name].type._cached_bind_processor(dialect) for name in names)
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


async def _driver(db: AsyncSession, *, writes: bool) -> Any:
    """The asyncpg connection under the session, in the session's transaction when the request
    may write."""
    connection = await db.connection()
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    if writes and adapted._transaction is None:
        # what SQLAlchemy's asyncpg adapter does before its first statement
        await adapted._start_transaction()
    return adapted._connection


def _arguments(plan: _Plan, extracted: Any, params: Mapping[str, Any]) -> list[Any]:
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
    dialect = db.get_bind().dialect
    if dialect.name != "postgresql":
        result = await db.execute(statement, params or None)
        return [dict(row) for row in result.mappings()]
    assert isinstance(statement, ClauseElement)
    plan, extracted = _planned(statement, dialect, params)
    driver = await _driver(db, writes=not read_only_transaction.get())
    arguments = _arguments(plan, extracted, params)
    for observe in observers:
        observe(plan.sql, arguments)
    records = await driver.fetch(plan.sql, *arguments)
    return _rows(plan, records)


async def fetch_one(db: AsyncSession, statement: Executable, **params: Any) -> Row | None:
    """The one row a statement returns, or None."""
    rows = await fetch(db, statement, **params)
    if len(rows) > 1:
        raise ValueError("the statement returned more than one row")
    return rows[0] if rows else None


async def execute(db: AsyncSession, statement: Executable, **params: Any) -> None:
    """A write without result rows, in the request's transaction."""
    dialect = db.get_bind().dialect
    if dialect.name != "postgresql":
        await db.execute(statement, params or None)
        return
    assert isinstance(statement, ClauseElement)
    plan, extracted = _planned(statement, dialect, params)
    driver = await _driver(db, writes=True)
    arguments = _arguments(plan, extracted, params)
    for observe in observers:
        observe(plan.sql, arguments)
    await driver.execute(plan.sql, *arguments)
