"""The `careplan` command: serve the API, migrate the database, create users and API keys.

Settings come from the environment (and a `.env` file), exactly as for the server. Exit codes:
0 success, 1 the operation failed (database unreachable, email taken, …), 2 bad input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

import app as app_package
from app.audit import service as audit
from app.audit.service import NO_ACTOR, AuditAction
from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate, UserCreate
from app.core.config import Settings
from app.core.db import async_database_url, create_engine, make_sessionmaker
from app.core.errors import AppError, ValidationFailed
from app.core.observability import MULTIPROCESS_DIR_ENV, configure_logging
from app.core.secret_key import SecretKeyError, signing_key
from app.core.security import PasswordHashing, Role
from app.events.worker import DeliveryPolicy, DeliveryWorker

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
SQLITE_THREAD_GRACE_S = 0.05

# Audit events written by the command line have no user or API key behind them.
COMMAND_LINE = NO_ACTOR

cli = typer.Typer(
    name="careplan",
    help="Careplan: treatment plans, session records and progress summaries for massage clinics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
admin_cli = typer.Typer(help="Administration: users and API keys.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(admin_cli, name="admin")


def main() -> None:
    cli()


# --- shared pieces -------------------------------------------------------------------------


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def _option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _validation_message(error: ValidationError) -> str:
    """pydantic's errors as `--option: message` lines, in the command line's own words."""
    lines = []
    for item in error.errors():
        fields = [str(part) for part in item["loc"] if part != "body"]
        msg = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{_option_name(fields[-1])}: {msg}" if fields else msg)
    return "\n".join(lines)


def _load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        _fail(f"invalid settings:\n{_settings_message(error)}", EXIT_BAD_INPUT)
    try:
        async_database_url(settings.database_url)
    except (ArgumentError, ValueError) as error:
        _fail(f"invalid settings:\nDATABASE_URL: {error}", EXIT_BAD_INPUT)
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        _fail(
            f"invalid settings:\nCAREPLAN_LOG_LEVEL: no level {settings.log_level!r}",
            EXIT_BAD_INPUT,
        )
    return settings


def _settings_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = str(item["loc"][-1]) if item["loc"] else "settings"
        lines.append(f"{name}: {str(item['msg']).removeprefix('Value error, ')}")
    return "\n".join(lines)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def project_root() -> Path:
    """Where `alembic.ini` and `migrations/` live: beside the `app` package (a source checkout
    or an editable install), or else the current directory (an installed package run from the
    project folder, as in the container image)."""
    package_parent = Path(app_package.__file__).resolve().parent.parent
    for candidate in (package_parent, Path.cwd()):
        if (candidate / "alembic.ini").is_file() and (candidate / "migrations").is_dir():
            return candidate
    _fail(
        "alembic.ini and migrations/ not found beside the app package nor in the current "
        "directory; run the command from the project folder"
    )


def alembic_config(database_url: str, *, own_logging: bool = True) -> Config:
    root = project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = database_url
    # when the caller has set up logging already (serve logs JSON), alembic must not replace it
    config.attributes["configure_logging"] = own_logging
    return config


def _migrate(
    operation: Callable[[Config, str], None], database_url: str, revision: str, own_logging: bool
) -> None:
    try:
        operation(alembic_config(database_url, own_logging=own_logging), revision)
    except CommandError as error:
        _fail(str(error))
    except (SQLAlchemyError, OSError) as error:
        _database_failure(database_url, error, migrating=True)


def _database_failure(database_url: str, error: Exception, *, migrating: bool) -> NoReturn:
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    hint = (
        "Is it running, and does DATABASE_URL name it?"
        if migrating
        else "Is it running, and has `careplan db upgrade` brought its schema to head?"
    )
    _fail(f"cannot use the database at {_safe_url(database_url)}: {first_line}\n{hint}")


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one transaction on a short-lived engine; commits when it returns."""

    async def run() -> T:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        except BaseException:
            # a SQLite file that cannot be opened leaves the driver's worker thread reporting
            # its own shutdown to this loop: let it, before asyncio.run closes the loop
            await asyncio.sleep(SQLITE_THREAD_GRACE_S)
            raise
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ValidationFailed as error:
        details = [
            f"{_option_name(str(item['loc'][-1]))}: {item['msg']}"
            for item in error.extra.get("errors", [])
            if item.get("loc")
        ]
        _fail("\n".join(details) or error.detail, EXIT_BAD_INPUT)
    except AppError as error:
        _fail(error.detail)
    except (SQLAlchemyError, OSError) as error:
        _database_failure(settings.database_url, error, migrating=False)


# --- serve ---------------------------------------------------------------------------------


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each with its own connection pool).")
    ] = 1,
) -> None:
    """Bring the database schema to head, then serve the API."""
    settings = _load_settings()
    configure_logging(settings.log_level)
    try:
        signing_key(settings)  # made (or refused) once here, before the workers read it
    except SecretKeyError as error:
        _fail(str(error), EXIT_BAD_INPUT)
    _migrate(command.upgrade, settings.database_url, "head", own_logging=False)
    with _shared_metrics(workers):
        _run_server(host, port, workers)


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, each writes its metrics to files in one folder, so that a scrape
    answered by any worker counts them all (prometheus_client's multiprocess mode). The folder
    is new for each start (or emptied, when the operator names it) and removed at the end."""
    if workers == 1:
        yield
        return
    named = os.environ.get(MULTIPROCESS_DIR_ENV)
    folder = Path(named) if named else Path(tempfile.mkdtemp(prefix="careplan-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR_ENV] = str(folder)
    try:
        yield
    finally:
        if named is None:
            shutil.rmtree(folder, ignore_errors=True)
            os.environ.pop(MULTIPROCESS_DIR_ENV, None)


def _run_server(host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # the app writes its own JSON access log
        log_config=None,  # and configures logging itself
        server_header=False,
        # X-Forwarded-For is the app's to judge (CAREPLAN_TRUSTED_PROXIES), never uvicorn's
        proxy_headers=False,
        # a worker answers the supervisor's pings only once it has imported the app, which can
        # take several seconds on a busy machine: a short timeout would kill it while it starts
        timeout_worker_healthcheck=30,
    )


# --- db ------------------------------------------------------------------------------------


@db_cli.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to a revision (default: the newest)."""
    settings = _load_settings()
    _migrate(command.upgrade, settings.database_url, revision, own_logging=True)
    typer.echo(f"Database {_safe_url(settings.database_url)} upgraded to {revision}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to a revision."""
    settings = _load_settings()
    _migrate(command.downgrade, settings.database_url, revision, own_logging=True)
    typer.echo(f"Database {_safe_url(settings.database_url)} downgraded to {revision}")


# --- admin ---------------------------------------------------------------------------------

RoleOption = Annotated[Role, typer.Option(help="admin, therapist, front_desk or referrer.")]
TherapistOption = Annotated[
    str | None, typer.Option(help="The therapist record a therapist is linked to (UUID).")
]
ReferrerOption = Annotated[
    str | None,
    typer.Option(help="The referring professional a referrer is linked to (UUID)."),
]


@admin_cli.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Login email.")],
    role: RoleOption,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="At least 12 characters; asked for when not given.",
        ),
    ],
    display_name: Annotated[
        str | None, typer.Option(help="Name shown in the app (default: the email).")
    ] = None,
    therapist_id: TherapistOption = None,
    referring_professional_id: ReferrerOption = None,
) -> None:
    """Create a user who logs in with email and password."""
    try:
        data = UserCreate.model_validate(
            {
                "email": email,
                "password": password,
                "display_name": display_name if display_name is not None else email,
                "role": role,
                "therapist_id": therapist_id,
                "referring_professional_id": referring_professional_id,
            }
        )
    except ValidationError as error:
        _fail(_validation_message(error), EXIT_BAD_INPUT)
    settings = _load_settings()
    hashing = PasswordHashing(settings.argon2_time_cost, settings.argon2_memory_kib)

    async def work(session: AsyncSession) -> tuple[uuid.UUID, str]:
        user = await auth_service.create_user(session, data, hashing)
        audit.record(session, COMMAND_LINE, AuditAction.create, "user", user.id)
        return user.id, user.email

    user_id, stored_email = _in_transaction(settings, work)
    typer.echo(f"Created user {user_id} <{stored_email}> with role {data.role.value}")


@admin_cli.command("create-api-key")
def create_api_key(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. the script's name.")],
    role: RoleOption,
    therapist_id: TherapistOption = None,
    referring_professional_id: ReferrerOption = None,
) -> None:
    """Create an API key; the key itself is printed alone on the last line, this once."""
    try:
        data = ApiKeyCreate.model_validate(
            {
                "name": name,
                "role": role,
                "therapist_id": therapist_id,
                "referring_professional_id": referring_professional_id,
            }
        )
    except ValidationError as error:
        _fail(_validation_message(error), EXIT_BAD_INPUT)
    settings = _load_settings()

    async def work(session: AsyncSession) -> tuple[uuid.UUID, str]:
        record, key = await auth_service.create_api_key(session, data, created_by=None)
        audit.record(session, COMMAND_LINE, AuditAction.create, "api_key", record.id)
        return record.id, key

    key_id, key = _in_transaction(settings, work)
    typer.echo(f"Created API key {key_id} ({data.name!r}, role {data.role.value}).")
    typer.echo("Store the key now: it is shown only this once.")
    typer.echo(key)


# --- worker --------------------------------------------------------------------------------


@cli.command()
def worker() -> None:
    """Deliver webhooks alone (`serve` delivers them too); several may run at once."""
    settings = _load_settings()
    configure_logging(settings.log_level)

    async def check() -> None:
        # a clear message now rather than a log line a second for ever
        await DeliveryWorker(make_sessionmaker(engine), policy).purge()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        delivery = DeliveryWorker(make_sessionmaker(engine), policy)
        try:
            await delivery.run(stop)
        finally:
            await delivery.close()

    async def main() -> None:
        try:
            try:
                await check()
            except (SQLAlchemyError, OSError) as error:
                await asyncio.sleep(SQLITE_THREAD_GRACE_S)
                _database_failure(settings.database_url, error, migrating=False)
            typer.echo("Delivering webhooks; stop with Ctrl-C")
            await run()
        finally:
            await engine.dispose()

    policy = DeliveryPolicy.from_settings(settings)
    engine = create_engine(settings.database_url, pool_size=2)
    asyncio.run(main())
