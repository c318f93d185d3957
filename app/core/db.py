"""The data layer: URL handling, the engine, the declarative base and column types."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Integer, MetaData, Uuid, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.type_api import _ResultProcessorType
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000

read_only_transaction: ContextVar[bool] = ContextVar("read_only_transaction", default=False)
"""True while a request that changes nothing (GET, HEAD) runs. On SQLite its transactions then
start with a plain (deferred) BEGIN and read a WAL snapshot beside other readers, instead of
queueing for the write lock. Such a request writes nothing in its own transaction: its audit
events go through the group-commit writer (`app.audit.writer`)."""


def async_database_url(url: str) -> str:
    """Turn the plain `sqlite:///path` / `postgresql://…` forms into their async-driver forms."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported DATABASE_URL backend: {backend!r}")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> AsyncEngine:
    """One pooled engine per process.

    SQLite runs in WAL mode with foreign keys on and a busy timeout; every transaction that may
    write starts with BEGIN IMMEDIATE, so concurrent writers queue on SQLite's write lock instead
    of failing on a stale snapshot; read-only requests' transactions start with a deferred BEGIN
    and run beside them. PostgreSQL gets a pool sized to the worker's concurrency and no overflow.
    """
    async_url = async_database_url(url)
    if is_sqlite(url):
        engine = create_async_engine(
            async_url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        async_url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=3600,
        json_serializer=json_text,
    )


def json_text(value: Any) -> str:
    """The text of a JSON column's value on PostgreSQL, which parses it again (so spacing is
    not kept): orjson's, or the standard library's for what orjson does not write (integers
    beyond 64 bits, keys that are not strings)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # the driver must not open transactions on its own: we emit BEGIN IMMEDIATE ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if read_only_transaction.get() else "BEGIN IMMEDIATE")


def make_sessionmaker(bind: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        return value.astimezone(dt.UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> _ResultProcessorType[dt.datetime] | None:
        if dialect.driver == "asyncpg":  # it reads `timestamptz` as UTC datetimes itself
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), uuid.UUID: Uuid()}


class Resource(Base):
    """A stored resource of the contract: UUID id, timestamps, optimistic-locking version."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # the ORM issues UPDATE … WHERE id = :id AND version = :v and bumps the version itself
        return {"version_id_col": cls.__table__.c.version}


_UNSET_MEANS_NULL: dict[type[Any], tuple[str, ...]] = {}


@event.listens_for(Resource, "init", propagate=True)
def _known_nulls(target: Any, _args: Any, kwargs: dict[str, Any]) -> None:
    """A new row's nullable columns that have no default and were not given start as None,
    which is what the INSERT stores: after the flush the row is fully loaded, so reading it
    back (an outbox event's `data`, the response) needs no SELECT."""
    cls = type(target)
    names = _UNSET_MEANS_NULL.get(cls)
    if names is None:
        names = tuple(
            attr.key
            for attr in sa_inspect(cls).column_attrs
            if len(attr.columns) == 1
            and attr.columns[0].nullable
            and attr.columns[0].default is None
            and attr.columns[0].server_default is None
        )
        _UNSET_MEANS_NULL[cls] = names
    for name in names:
        kwargs.setdefault(name, None)


class Archivable:
    """Soft delete: `DELETE` sets `archived_at`; nothing clinical is erased."""

    archived_at: Mapped[dt.datetime | None] = mapped_column(default=None)
