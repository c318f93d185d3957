"""The data layer's settings: the async driver chosen from a plain URL, SQLite's pragmas, UTC
timestamps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import SQLITE_BUSY_TIMEOUT_MS, UTCDateTime, async_database_url, create_engine


@pytest.mark.parametrize(
    ("plain", "driver_form"),
    [
        ("sqlite:///./careplan.db", "sqlite+aiosqlite:///./careplan.db"),
        ("sqlite:////var/lib/careplan.db", "sqlite+aiosqlite:////var/lib/careplan.db"),
        ("postgresql://postgres@db/careplan", "postgresql+asyncpg://postgres@db/careplan"),
        ("postgres://u:p@db:5433/careplan", "postgresql+asyncpg://u:p@db:5433/careplan"),
        ("postgresql+psycopg://u@db/careplan", "postgresql+asyncpg://u@db/careplan"),
    ],
)
def test_plain_urls_pick_the_async_driver(plain: str, driver_form: str) -> None:
    assert async_database_url(plain) == driver_form


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_database_url("mysql://root@localhost/careplan")


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
    finally:
        await engine.dispose()
    assert journal == "wal"
    assert foreign_keys == 1
    assert timeout == SQLITE_BUSY_TIMEOUT_MS


async def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await conn.execute(
                text(
                    "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                    "parent_id INTEGER REFERENCES parent(id))"
                )
            )
        with pytest.raises(Exception, match="FOREIGN KEY"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO child (id, parent_id) VALUES (1, 99)"))
    finally:
        await engine.dispose()


def test_utc_timestamps_are_read_as_the_driver_gives_them_on_postgresql() -> None:
    """asyncpg reads `timestamptz` as UTC datetimes: no Python call per value on top; SQLite's
    naive values still become UTC ones."""
    column = UTCDateTime()
    assert column._cached_result_processor(asyncpg.dialect(), None) is None  # type: ignore[no-untyped-call]
    from_sqlite = column._cached_result_processor(sqlite.dialect(), None)
    assert from_sqlite is not None
    assert from_sqlite("2026-12-01 09:30:00.000000") == dt.datetime(
        2026, 12, 1, 9, 30, tzinfo=dt.UTC
    )


async def test_timestamps_read_back_in_utc(db: AsyncSession) -> None:
    at = dt.datetime(2026, 12, 1, 10, 30, 15, 250_000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    read = await db.scalar(select(literal(at, UTCDateTime())))
    assert read == at
    assert read is not None
    assert read.tzinfo == dt.UTC
