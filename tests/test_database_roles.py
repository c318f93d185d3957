"""The PostgreSQL roles of a deployment: the init script that the postgres container runs makes
an owner role for migrations and an app role with row access only, neither a superuser. Read
from the compose file, and run for real against the test cluster when it is PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.databases import backend_name, migrate, recreate_database, variant_url

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "postgres" / "10-careplan-roles.sh"
INIT_DIR = "/docker-entrypoint-initdb.d/"


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


def test_the_init_script_is_mounted_into_the_postgres_container() -> None:
    volumes = [str(v) for v in compose_services()["db"]["volumes"]]
    mounts = [v.split(":") for v in volumes if INIT_DIR in v]
    assert len(mounts) == 1
    source, target, *options = mounts[0]
    assert (ROOT / source).resolve() == SCRIPT
    assert target == INIT_DIR + SCRIPT.name
    assert options == ["ro"]
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash")


def test_the_roles_the_app_logs_in_as_are_the_scripts() -> None:
    text = SCRIPT.read_text()
    assert 'owner="${CAREPLAN_DB_OWNER:-careplan_owner}"' in text
    assert 'app="${CAREPLAN_DB_APP_USER:-careplan_app}"' in text
    services = compose_services()
    users = {
        name: make_url(
            str(services[name]["environment"]["DATABASE_URL"]).replace("${", "").replace("}", "")
        ).username
        for name in ("migrate", "api")
    }
    assert users == {"migrate": "careplan_owner", "api": "careplan_app"}


@pytest.fixture
async def deployment(database_url: str) -> AsyncIterator[dict[str, str]]:
    """A fresh database initialised by the script, with role names of this test's own (roles
    are shared by the whole cluster); dropped afterwards."""
    if backend_name(database_url) != "postgresql":
        pytest.skip("the roles are PostgreSQL's")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    url = variant_url(database_url, "roles")
    await recreate_database(url)
    parsed = make_url(url)
    suffix = uuid.uuid4().hex[:8]
    owner, app = f"careplan_owner_{suffix}", f"careplan_app_{suffix}"
    env = {
        **os.environ,
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "postgres",
        "POSTGRES_DB": str(parsed.database),
        "CAREPLAN_DB_OWNER": owner,
        "CAREPLAN_DB_APP_USER": app,
        "CAREPLAN_DB_OWNER_PASSWORD": "owner's pass'word",
        "CAREPLAN_DB_APP_PASSWORD": "app password",
    }
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    ran = await asyncio.to_thread(
        subprocess.run,
        ["bash", str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert ran.returncode == 0, ran.stderr
        yield {
            "owner": owner,
            "app": app,
            "owner_url": parsed.set(username=owner, password=None).render_as_string(False),
            "app_url": parsed.set(username=app, password=None).render_as_string(False),
            "database": str(parsed.database),
        }
    finally:
        admin = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            database="postgres",
        )
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            for role in (app, owner):
                await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


async def connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    connection: asyncpg.Connection = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    return connection


async def test_the_app_role_reads_and_writes_rows_and_nothing_more(
    deployment: dict[str, str],
) -> None:
    await migrate(deployment["owner_url"])  # the one-shot migration, as the owner
    await migrate(deployment["app_url"])  # `careplan serve` at head: a no-op the app may run

    app = await connect(deployment["app_url"])
    try:
        flags = await app.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert tuple(flags) == (False, False, False, False)
        therapist = uuid.uuid4()
        await app.execute(
            "INSERT INTO therapists (id, full_name, credentials, certifications, active, "
            "created_at, updated_at, version) VALUES ($1, 'Jo', '[]', '[]', true, now(), now(), 1)",
            therapist,
        )
        await app.execute("UPDATE therapists SET full_name = 'Jo E.' WHERE id = $1", therapist)
        assert await app.fetchval("SELECT full_name FROM therapists WHERE id = $1", therapist) == (
            "Jo E."
        )
        await app.execute("DELETE FROM login_failures")
        for statement in (
            "ALTER TABLE session_records DISABLE TRIGGER ALL",
            "ALTER TABLE audit_events DISABLE TRIGGER USER",
            "DROP TRIGGER session_records_signed_immutable ON session_records",
            "TRUNCATE audit_events",
            "TRUNCATE session_records CASCADE",
            "SET session_replication_role = replica",
            "CREATE TABLE intruder (id int)",
            "DROP TABLE addenda",
            "ALTER ROLE CURRENT_USER SUPERUSER",
        ):
            with pytest.raises(asyncpg.PostgresError) as raised:
                await app.execute(statement)
            assert raised.value.sqlstate in ("42501", "42809"), (statement, raised.value)
    finally:
        await app.close()

    owner = await connect(deployment["owner_url"])
    try:
        assert (
            await owner.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            is False
        )
        # tables made later by the owner (the next migration) are the app's to use at once
        await owner.execute("CREATE TABLE later_table (id int)")
    finally:
        await owner.close()
    app = await connect(deployment["app_url"])
    try:
        await app.execute("INSERT INTO later_table VALUES (1)")
        assert await app.fetchval("SELECT count(*) FROM later_table") == 1
    finally:
        await app.close()
