"""The container setup, checked by reading it: docker-compose.yml runs PostgreSQL, a one-shot
migration, then the API; the Dockerfile installs the project with its migrations; and every
command and setting they hand the app is one the app accepts."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import alembic.command
import pytest
import uvicorn
import yaml
from alembic.config import Config
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app import cli as careplan_cli
from app.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SECRET = "a-production-secret-key-of-enough-length-0123456789"
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if op and op.endswith("-"):
            return env.get(name) or arg
        assert name in env, f"compose requires {name}: {arg}"
        return env[name]

    return _VARIABLE.sub(substitute, value)


def environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def command_line(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


@dataclass
class Launch:
    """What a `careplan …` command line would do, recorded instead of done."""

    exit_code: int
    output: str
    migrations: list[tuple[str, str]] = field(default_factory=list)
    served: dict[str, Any] | None = None


def launch(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Launch:
    """Runs a `careplan …` command line through the real command parser and settings, with
    the migration and the server replaced by recorders."""
    assert argv[0] == "careplan"
    record = Launch(exit_code=-1, output="")

    def upgrade(config: Config, revision: str) -> None:
        record.migrations.append((str(config.attributes["database_url"]), revision))

    def run(app: str, **options: Any) -> None:
        record.served = {"app": app, **options}

    monkeypatch.setattr(alembic.command, "upgrade", upgrade)
    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(careplan_cli, "configure_logging", lambda level: None)
    result = CliRunner().invoke(careplan_cli.cli, argv[1:], env=env)
    record.exit_code = result.exit_code
    record.output = result.stdout + result.stderr
    return record


PASSWORDS = {
    "POSTGRES_PASSWORD": "superuser-password-0123",
    "CAREPLAN_DB_OWNER_PASSWORD": "owner-password-4567",
    "CAREPLAN_DB_APP_PASSWORD": "app-password-89ab",
}


def container_env(service: dict[str, Any]) -> dict[str, str]:
    return environment(service, {"CAREPLAN_SECRET_KEY": SECRET, **PASSWORDS})


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [str(part) for part in test]


def test_services_and_their_images(services: dict[str, Any], compose: dict[str, Any]) -> None:
    assert {"db", "migrate", "api"} <= set(services)
    db = services["db"]
    assert db["image"] == "postgres:15"
    data_volume = next(v for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert data_volume.split(":")[0] in compose["volumes"]
    for name in ("migrate", "api"):
        assert services[name]["build"] in (".", {"context": "."})
    assert services["migrate"]["image"] == services["api"]["image"]


def test_healthchecks(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db_check = healthcheck_command(services["db"])
    assert db_check[0] in ("CMD", "CMD-SHELL")
    assert "pg_isready" in " ".join(db_check[1:])

    api_check = healthcheck_command(services["api"])
    assert api_check[:3] == ["CMD", "python", "-c"]
    code = api_check[3]
    compile(code, "<healthcheck>", "exec")
    assert "urllib.request" in code
    api = services["api"]
    served = launch(command_line(api), container_env(api), monkeypatch).served
    assert served is not None
    assert f"http://127.0.0.1:{served['port']}/v1/health/ready" in code
    for service in ("db", "api"):
        check = services[service]["healthcheck"]
        assert {"interval", "timeout", "retries"} <= set(check)


def test_migrate_runs_once_before_the_api(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate, api = services["migrate"], services["api"]
    env = container_env(migrate)
    launched = launch(command_line(migrate), env, monkeypatch)
    assert launched.exit_code == 0, launched.output
    assert launched.migrations == [(env["DATABASE_URL"], "head")]
    assert launched.served is None
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_api_serves_on_all_interfaces_with_several_workers(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = services["api"]
    env = container_env(api)
    launched = launch(command_line(api), env, monkeypatch)
    assert launched.exit_code == 0, launched.output
    assert launched.migrations == [(env["DATABASE_URL"], "head")]
    served = launched.served
    assert served is not None
    assert served["app"] == "app.main:app_factory"
    assert served["factory"] is True
    assert served["host"] == "0.0.0.0"
    assert served["workers"] >= 2
    assert served["access_log"] is False
    # X-Forwarded-For is judged by the app (CAREPLAN_TRUSTED_PROXIES), not rewritten by uvicorn
    assert served["proxy_headers"] is False
    assert f"{served['port']}:{served['port']}" in [str(p) for p in api["ports"]]


def test_command_lines_that_the_app_does_not_know_are_refused(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command-line checks above can fail."""
    env = container_env(services["api"])
    for argv in (
        ["careplan", "serve", "--wrokers", "2"],
        ["careplan", "serve", "--port", "eighty"],
        ["careplan", "db", "migrate"],
    ):
        launched = launch(argv, env, monkeypatch)
        assert launched.exit_code == 2, argv
        assert launched.migrations == []
        assert launched.served is None
    weak = {**env, "CAREPLAN_SECRET_KEY": "short"}
    assert launch(["careplan", "db", "upgrade"], weak, monkeypatch).exit_code == 2


# who logs in as whom: the migration as the schema's owner, the API as the app role
LOGINS = {
    "migrate": ("careplan_owner", "CAREPLAN_DB_OWNER_PASSWORD"),
    "api": ("careplan_app", "CAREPLAN_DB_APP_PASSWORD"),
}


def test_app_containers_get_production_settings(services: dict[str, Any]) -> None:
    db_env = container_env(services["db"])
    for name in ("migrate", "api"):
        env = container_env(services[name])
        assert env["CAREPLAN_ENV"] == "production"
        assert "CAREPLAN_SECRET_KEY" in services[name]["environment"]
        url = make_url(env["DATABASE_URL"])
        assert url.get_backend_name() == "postgresql"
        assert (url.host, url.port) == ("db", 5432)
        username, password_variable = LOGINS[name]
        assert url.username == username
        assert url.username != db_env["POSTGRES_USER"], "never the superuser"
        assert url.password == PASSWORDS[password_variable] == db_env[password_variable]
        assert url.database == db_env["POSTGRES_DB"]
        settings = Settings.model_validate(env)  # what the container's process will read
        assert settings.environment == "production"
        assert settings.database_url == env["DATABASE_URL"]


def test_the_secret_key_must_be_given(services: dict[str, Any]) -> None:
    """Compose refuses to start the app without a secret key rather than use a default."""
    with pytest.raises(AssertionError, match="CAREPLAN_SECRET_KEY"):
        environment(services["api"], PASSWORDS)


@pytest.mark.parametrize("variable", sorted(PASSWORDS))
def test_database_passwords_have_no_default(services: dict[str, Any], variable: str) -> None:
    given = {"CAREPLAN_SECRET_KEY": SECRET, **PASSWORDS}
    given.pop(variable)
    users = [name for name in ("db", "migrate", "api") if variable in str(services[name])]
    assert users
    for name in users:
        with pytest.raises(AssertionError, match=variable):
            environment(services[name], given)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_installs_the_project_with_its_migrations() -> None:
    assert DOCKERFILE.is_file()
    steps = dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")

    copies = [args.split() for kind, args in steps if kind == "COPY"]
    sources = {Path(src).name for parts in copies for src in parts[:-1]}
    assert {"pyproject.toml", "README.md", "app", "alembic.ini", "migrations"} <= sources
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for parts in copies:
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: no such file in the project"
            assert src not in ignored, f"COPY {src}: excluded by .dockerignore"

    project_dir = next(parts[-1] for parts in copies if "pyproject.toml" in parts)
    installs = [args for kind, args in steps if kind == "RUN" and "pip install" in args]
    assert any(project_dir.rstrip("/") in args or " . " in f"{args} " for args in installs)

    workdir = [args for kind, args in steps if kind == "WORKDIR"][-1]
    migration_copies = [parts for parts in copies if parts[0] in ("alembic.ini", "migrations")]
    for parts in migration_copies:
        destination = parts[-1]
        assert destination.startswith(("./", workdir)), "migrations must sit in WORKDIR"

    users = [args for kind, args in steps if kind == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    cmd = next(args for kind, args in reversed(steps) if kind == "CMD")
    assert '"careplan"' in cmd
