"""The `careplan` command. The main flows run the installed command as a user runs it: a
subprocess with its own environment, in a folder of its own (so it must find the migrations
beside the package, not in the working directory). Refusals run in-process, which is quicker."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from app.auth.models import ApiKey, User
from app.cli import cli
from app.core.db import create_engine
from app.main import create_app
from tests.conftest import test_settings as settings_for
from tests.databases import (
    TEST_DATABASE_ENV,
    alembic_config,
    migrate,
    recreate_database,
    variant_url,
)

CAREPLAN = Path(sys.executable).with_name("careplan")
COMMAND_TIMEOUT_S = 120
SERVE_READY_TIMEOUT_S = 60
PASSWORD = "a long enough passphrase"

BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get(TEST_DATABASE_ENV) else [])]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    crashed: bool = False


def command_env(database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CAREPLAN_") and key != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        CAREPLAN_ENV="test",
        CAREPLAN_SECRET_KEY="test-secret-key-for-the-careplan-cli-0123456789",
        CAREPLAN_ARGON2_TIME_COST="1",
        CAREPLAN_ARGON2_MEMORY_KIB="1024",
        COLUMNS="200",
        NO_COLOR="1",
        TERM="dumb",
    )
    return env


async def careplan(database_url: str, cwd: Path, *args: str) -> Run:
    """The installed command in a subprocess."""
    process = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        *args,
        cwd=cwd,
        env=command_env(database_url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode(), "Traceback" in err.decode())


async def invoke(env: dict[str, str], *args: str) -> Run:
    """The command in this process, in a thread of its own (it runs its own event loop).
    Only for commands that stop before running migrations, which configure logging."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Run(result.exit_code, result.stdout, result.stderr, crashed)


def assert_clean_failure(run: Run, code: int, *fragments: str) -> None:
    """A refused command says why on stderr, with the given exit code and no traceback."""
    assert run.code == code, run
    assert not run.crashed, run
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr


@pytest.fixture(params=BACKENDS)
async def cli_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'careplan_cli.db'}"
    else:
        url = variant_url(os.environ[TEST_DATABASE_ENV], "cli")
    await recreate_database(url)
    return url


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


async def table_names(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def count(url: str, model: type[User] | type[ApiKey]) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def test_migrate_then_create_a_user_and_a_working_api_key(
    cli_database_url: str, workdir: Path
) -> None:
    url = cli_database_url
    upgraded = await careplan(url, workdir, "db", "upgrade")
    assert upgraded.code == 0, upgraded
    assert "upgraded to head" in upgraded.stdout
    assert {"clients", "session_records", "audit_events"} <= await table_names(url)

    down = await careplan(url, workdir, "db", "downgrade", "base")
    assert down.code == 0, down
    assert await table_names(url) <= {"alembic_version"}
    unknown = await careplan(url, workdir, "db", "downgrade", "no-such-revision")
    assert_clean_failure(unknown, 2, "no-such-revision")
    assert (await careplan(url, workdir, "db", "upgrade", "head")).code == 0
    assert "clients" in await table_names(url)

    user = await careplan(
        url,
        workdir,
        *("admin", "create-user", "--email", "Ops@Clinic.example", "--password", PASSWORD),
        *("--role", "admin", "--display-name", "Clinic operations"),
    )
    assert user.code == 0, user
    assert "ops@clinic.example" in user.stdout

    again = await invoke(
        command_env(url),
        *("admin", "create-user", "--email", "ops@clinic.example"),
        *("--password", PASSWORD, "--role", "front_desk"),
    )
    assert_clean_failure(again, 1, "already exists")

    created = await careplan(
        url, workdir, "admin", "create-api-key", "--name", "ci", "--role", "admin"
    )
    assert created.code == 0, created
    lines = created.stdout.strip().splitlines()
    assert len(lines) > 1
    key = lines[-1]
    assert key.startswith("cpk_")
    assert " " not in key

    app = create_app(settings_for(url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://careplan.test"
        ) as client,
    ):
        headers = {"Authorization": f"Bearer {key}"}
        therapists = await client.get("/v1/therapists", headers=headers)
        assert therapists.status_code == 200, therapists.text
        assert therapists.json() == {"items": [], "next_cursor": None}
        assert (await client.get("/v1/therapists")).status_code == 401
        wrong = {"Authorization": f"Bearer {key[:-2]}xx"}
        assert (await client.get("/v1/therapists", headers=wrong)).status_code == 401

        login = await client.post(
            "/v1/auth/token", data={"username": "ops@clinic.example", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        as_user = await client.get("/v1/therapists", headers={"Authorization": f"Bearer {token}"})
        assert as_user.status_code == 200

        audit = await client.get("/v1/audit-events?action=create", headers=headers)
        assert audit.status_code == 200, audit.text
        audited = {event["resource_type"] for event in audit.json()["items"]}
        assert {"user", "api_key"} <= audited

    assert await count(url, User) == 1
    assert await count(url, ApiKey) == 1


async def test_admin_commands_refuse_bad_input_with_exit_code_2(cli_database_url: str) -> None:
    url = cli_database_url
    await migrate(url)
    env = command_env(url)

    def key(*extra: str) -> tuple[str, ...]:
        return ("admin", "create-api-key", "--name", "script", *extra)

    assert_clean_failure(await invoke(env, *key("--role", "boss")), 2, "--role", "boss")
    assert_clean_failure(
        await invoke(env, *key("--role", "therapist")), 2, "therapist role needs a therapist_id"
    )
    assert_clean_failure(
        await invoke(env, *key("--role", "admin", "--therapist-id", str(uuid.uuid4()))),
        2,
        "only the therapist role",
    )
    assert_clean_failure(
        await invoke(env, *key("--role", "therapist", "--therapist-id", "nobody")),
        2,
        "--therapist-id",
    )
    assert_clean_failure(
        await invoke(env, *key("--role", "therapist", "--therapist-id", str(uuid.uuid4()))),
        2,
        "--therapist-id: no such therapist",
    )
    assert_clean_failure(
        await invoke(
            env, *key("--role", "referrer", "--referring-professional-id", str(uuid.uuid4()))
        ),
        2,
        "--referring-professional-id: no such referring professional",
    )
    assert_clean_failure(
        await invoke(env, "admin", "create-api-key", "--name", "", "--role", "admin"), 2, "--name"
    )

    def user(email: str, password: str) -> tuple[str, ...]:
        return ("admin", "create-user", "--email", email, "--password", password, "--role", "admin")

    assert_clean_failure(await invoke(env, *user("a@clinic.example", "short")), 2, "--password")
    assert_clean_failure(await invoke(env, *user("not-an-email", PASSWORD)), 2, "--email")
    assert_clean_failure(
        await invoke(env, "admin", "create-user", "--role", "admin", "--password", PASSWORD),
        2,
        "--email",
    )

    assert await count(url, User) == 0
    assert await count(url, ApiKey) == 0


async def test_an_unusable_database_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = command_env(f"sqlite:///{blocker / 'careplan.db'}")
    refused = await invoke(env, "admin", "create-api-key", "--name", "x", "--role", "admin")
    assert_clean_failure(refused, 1, "cannot use the database", "a-file", "careplan db upgrade")


async def test_invalid_settings_are_reported_not_raised(tmp_path: Path) -> None:
    env = command_env(f"sqlite:///{tmp_path / 'careplan.db'}")
    env.update(CAREPLAN_ENV="production", CAREPLAN_SECRET_KEY="too short")
    refused = await invoke(env, "db", "upgrade")
    assert_clean_failure(refused, 2, "CAREPLAN_SECRET_KEY")
    assert not (tmp_path / "careplan.db").exists()

    env = command_env("mysql://clinic@localhost/careplan")
    refused = await invoke(env, "admin", "create-api-key", "--name", "x", "--role", "admin")
    assert_clean_failure(refused, 2, "DATABASE_URL", "mysql")
    env = command_env(f"sqlite:///{tmp_path / 'careplan.db'}")
    env["CAREPLAN_LOG_LEVEL"] = "loud"
    assert_clean_failure(await invoke(env, "serve"), 2, "CAREPLAN_LOG_LEVEL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_serve_migrates_then_serves(tmp_path: Path, workdir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(CAREPLAN),
            *("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"),
            cwd=workdir,
            env=command_env(url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=20.0) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SERVE_READY_TIMEOUT_S
            ready: httpx.Response | None = None
            while loop.time() < deadline and process.returncode is None:
                try:
                    ready = await client.get("/v1/health/ready", timeout=2.0)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            assert process.returncode is None, log.read_text()
            assert ready is not None, f"no answer within {SERVE_READY_TIMEOUT_S} s"
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok", "database": "ok"}
            health = await client.get("/v1/health")
            assert health.json() == {"status": "ok"}
            assert "x-request-id" in health.headers
            assert "server" not in health.headers
            docs = await client.get("/openapi.json")
            assert docs.status_code == 200
            assert "/v1/therapists" in docs.json()["paths"]
        # every scrape counts every worker's requests, whichever worker answers it: new
        # connections spread the requests over both workers
        health_requests = 41  # the 1 above and 40 more
        for _ in range(health_requests - 1):
            async with httpx.AsyncClient(base_url=base, timeout=20.0) as fresh:
                assert (await fresh.get("/v1/health")).status_code == 200
        for _ in range(4):
            async with httpx.AsyncClient(base_url=base, timeout=20.0) as fresh:
                scrape = (await fresh.get("/metrics")).text
            assert _health_count(scrape) == health_requests, scrape
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert revision == head, "serve did not bring the schema to head"

    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r.get("logger", "").startswith("alembic") for r in records), log.read_text()
    assert any(r.get("logger") == "uvicorn.error" for r in records), log.read_text()
    assert not any(r.get("logger") == "uvicorn.access" for r in records)


def _health_count(exposition: str) -> float:
    """The requests counted for `GET /v1/health` in a Prometheus text exposition."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("careplan_http_requests_total{") and 'route="/v1/health"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
