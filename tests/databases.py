"""Test databases: which one (one environment variable), created fresh and migrated."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.core.db import is_sqlite

TEST_DATABASE_ENV = "CAREPLAN_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent


def base_test_url() -> str:
    """`CAREPLAN_TEST_DATABASE_URL` (e.g. postgresql://postgres@127.0.0.1/careplan_test), or a
    SQLite file in a temporary folder."""
    url = os.environ.get(TEST_DATABASE_ENV)
    if url:
        return url
    folder = Path(tempfile.mkdtemp(prefix="careplan-test-"))
    return f"sqlite:///{folder / 'careplan.db'}"


def backend_name(url: str) -> str:
    return "sqlite" if is_sqlite(url) else "postgresql"


def variant_url(url: str, suffix: str) -> str:
    """Another database beside the test database, for tests that need one of their own."""
    parsed = make_url(url)
    if is_sqlite(url):
        path = Path(parsed.database or "careplan.db")
        return str(parsed.set(database=str(path.with_name(f"{path.stem}_{suffix}.db"))))
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(hide_password=False)


async def recreate_database(url: str) -> None:
    """Drops and creates the database of `url` (PostgreSQL) or removes the file (SQLite)."""
    parsed = make_url(url)
    if is_sqlite(url):
        path = Path(parsed.database or "")
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            candidate.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    name = parsed.database
    admin = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


async def migrate(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)
