"""The benchmarks' own databases: created fresh, dropped at the end. Never give them a database
you want to keep."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url


async def connect(url: str, database: str | None = None) -> asyncpg.Connection:
    """A connection to the PostgreSQL server of `url`, to `database` (default: the URL's)."""
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=database or parsed.database,
    )


async def drop(url: str) -> None:
    """Drops the database of `url` (a SQLite file and its WAL files)."""
    await _drop(url, create=False)


async def recreate(url: str) -> None:
    """Drops the database of `url` if it exists and creates it empty (SQLite: removes the file)."""
    await _drop(url, create=True)


async def _drop(url: str, *, create: bool) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{parsed.database}{suffix}").unlink, missing_ok=True)
        return
    admin = await connect(url, "postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if create:
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()
