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
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

try:  # newer typer carries its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import (  # type: ignore[assignment]
        ClickException,
        NoArgsIsHelpError,
        UsageError,
    )

import app as app_package
from app.audit import service as audit
from app.audit.service import NO_ACTOR, AuditAction
from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate, UserCreate
from app.core.config import Settings
from app.core.db import async_database_url, create_engine, make_sessionmaker, utcnow
from app.core.errors import AppError, ValidationFailed
from app.core.observability import MULTIPROCESS_DIR_ENV, configure_logging
from app.core.progress import progress
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
import_cli = typer.Typer(help="Import records from files.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(import_cli, name="import")


def main() -> None:
    """The installed command: option errors become one line on stderr and exit code 2."""
    try:
        code = cli(standalone_mode=False)
    except NoArgsIsHelpError as error:
        error.show()  # the help, as `careplan --help` prints it
        sys.exit(EXIT_BAD_INPUT)
    except UsageError as error:
        where = error.ctx.command_path if error.ctx else "careplan"
        message = error.format_message().replace("Value error, ", "")
        typer.echo(f"Error: {message} (see `{where} --help`)", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except typer.Abort:
        typer.echo("Error: interrupted", err=True)
        sys.exit(EXIT_FAILED)
    except ClickException as error:
        typer.echo(f"Error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


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
    operation: Callable[[Config, str], None],
    database_url: str,
    revision: str,
    own_logging: bool,
    revision_error_code: int = EXIT_FAILED,
) -> None:
    """`revision_error_code`: the exit code when alembic refuses the revision (a bad one typed
    by the user is bad input; a database at a revision this code does not know is a failure)."""
    try:
        operation(alembic_config(database_url, own_logging=own_logging), revision)
    except CommandError as error:
        _fail(str(error), revision_error_code)
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
    _check_can_listen(host, port)
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


def _check_can_listen(host: str, port: int) -> None:
    """A taken port or an address this machine does not have is bad input, said before the
    schema is touched (uvicorn would exit with 1 or 3 after logging a traceback-like line)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        _fail(
            f"--host {host!r}: not an address this machine can listen on ({error})", EXIT_BAD_INPUT
        )
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            reason = error.strerror or str(error)
            _fail(f"cannot listen on {host}:{port}: {reason}", EXIT_BAD_INPUT)


# --- db ------------------------------------------------------------------------------------

# a revision such as -1 is an argument, not an option
REVISION_ARGUMENT = {"ignore_unknown_options": True}


@db_cli.command("upgrade", context_settings=REVISION_ARGUMENT)
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to a revision (default: the newest)."""
    settings = _load_settings()
    _migrate(command.upgrade, settings.database_url, revision, True, EXIT_BAD_INPUT)
    typer.echo(f"Database {_safe_url(settings.database_url)} upgraded to {revision}")


@db_cli.command("downgrade", context_settings=REVISION_ARGUMENT)
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert migrations down to a revision."""
    settings = _load_settings()
    _migrate(command.downgrade, settings.database_url, revision, True, EXIT_BAD_INPUT)
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
        str | None,
        typer.Option(help="At least 12 characters; asked for on a terminal when not given."),
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help="Name shown in the app (default: the email).")
    ] = None,
    therapist_id: TherapistOption = None,
    referring_professional_id: ReferrerOption = None,
) -> None:
    """Create a user who logs in with email and password."""
    if password is None:
        password = _ask_password()
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


def _ask_password() -> str:
    if not sys.stdin.isatty():
        _fail("--password is required when no terminal is attached to ask for it", EXIT_BAD_INPUT)
    try:
        answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    except typer.Abort:
        _fail("no password given", EXIT_BAD_INPUT)
    except UsageError as error:  # the two entries differ
        _fail(error.format_message(), EXIT_BAD_INPUT)
    return answer


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


# --- import, export --------------------------------------------------------------------------


@import_cli.command("clients")
def import_clients(
    file: Annotated[Path, typer.Argument(help="CSV with a header row, UTF-8.")],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Import the valid rows and write the others to FILE.rejects.csv.",
        ),
    ] = False,
) -> None:
    """Import clients from CSV: given_name,family_name,date_of_birth,email,phone,address,
    pregnancy_due_date,notes (any order). Every row is checked first; a client already present
    (same names and date of birth) is skipped."""
    from app.clients import csv_import  # the commands import what they use: `serve` starts fast

    try:
        parsed = csv_import.read_clients_csv(file)
    except csv_import.ImportFileError as error:
        _fail(str(error), EXIT_BAD_INPUT)
    for bad in parsed.invalid:
        for problem in bad.errors:
            typer.echo(f"{file}, line {bad.line}: {problem}", err=True)
    if parsed.invalid and not skip_invalid:
        _fail(
            f"{len(parsed.invalid)} invalid row(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the others)",
            EXIT_BAD_INPUT,
        )
    settings = _load_settings()

    async def work(session: AsyncSession) -> tuple[int, int]:
        with progress("import clients", len(parsed.valid)) as advance:
            return await csv_import.import_clients(session, parsed.valid, COMMAND_LINE, advance)

    imported, present = _in_transaction(settings, work)
    typer.echo(f"Imported {imported} client(s); {present} already present were skipped.")
    if parsed.invalid:
        rejects = csv_import.rejects_path(file)
        csv_import.write_rejects(rejects, parsed.header, parsed.invalid)
        typer.echo(f"{len(parsed.invalid)} invalid row(s) written to {rejects}")


@cli.command("export")
def export_folder(
    folder: Annotated[Path, typer.Argument(help="A new or empty folder for the files.")],
    resources: Annotated[
        str | None,
        typer.Option(help="Comma-separated resource types (default: all)."),
    ] = None,
) -> None:
    """Export every row, archived ones included: one NDJSON file per resource type and
    manifest.json with each file's row count and SHA-256."""
    from app.export import files as export_files
    from app.export import service as export_service

    try:
        chosen = export_service.parse_resources(resources)
    except ValueError as error:
        _fail(f"--resources: {error}", EXIT_BAD_INPUT)
    try:
        export_files.prepare_folder(folder)
    except ValueError as error:
        _fail(str(error), EXIT_BAD_INPUT)
    except OSError as error:
        _fail(f"{folder}: {error.strerror or error}", EXIT_BAD_INPUT)
    settings = _load_settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        manifest = await export_files.export_to_folder(session, folder, chosen, progress)
        audit.record(session, COMMAND_LINE, AuditAction.export, "export")
        return dict(manifest)

    manifest = _in_transaction(settings, work)
    total = sum(entry["count"] for entry in manifest["files"])
    typer.echo(f"Exported {total} row(s) in {len(manifest['files'])} file(s) to {folder}")


# --- demo ----------------------------------------------------------------------------------


@cli.command()
def demo(
    force: Annotated[
        bool, typer.Option("--force", help="Add the demo clinic even if clients exist.")
    ] = False,
) -> None:
    """Fill an empty database with a demo clinic and print an admin API key (last line)."""
    from app import demo as demo_clinic
    from app.clients.models import Client
    from app.main import create_app

    settings = _load_settings()
    _migrate(command.upgrade, settings.database_url, "head", own_logging=True)
    started = time.perf_counter()

    async def existing_clients(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(Client)) or 0)

    clients = _in_transaction(settings, existing_clients)
    if clients and not force:
        _fail(
            f"the database already holds {clients} client(s); pass --force to add the demo "
            "clinic anyway",
            EXIT_BAD_INPUT,
        )

    async def admin_key(session: AsyncSession) -> str:
        data = ApiKeyCreate(name="demo admin", role=Role.admin)
        record, key = await auth_service.create_api_key(session, data, created_by=None)
        audit.record(session, COMMAND_LINE, AuditAction.create, "api_key", record.id)
        return key

    key = _in_transaction(settings, admin_key)

    async def build() -> demo_clinic.DemoClinic:
        app = create_app(settings.model_copy(update={"access_log": False}))
        async with app.router.lifespan_context(app):
            steps = 2 + len(demo_clinic.CLIENT_NAMES) + demo_clinic.PLANNED_CLIENTS
            with progress("demo clinic", steps) as advance:
                return await demo_clinic.build_demo_clinic(app, key, utcnow().date(), advance)

    try:
        clinic = asyncio.run(build())
    except demo_clinic.DemoFailed as error:
        _fail(f"the demo clinic could not be built: {error}")
    except (SQLAlchemyError, OSError) as error:
        _database_failure(settings.database_url, error, migrating=False)
    elapsed = time.perf_counter() - started
    base = "http://127.0.0.1:8000"
    typer.echo(
        f"Demo clinic ready in {elapsed:.1f} s: {len(clinic.client_ids)} clients, "
        f"{len(clinic.plan_ids)} care plans, {clinic.sessions} sessions "
        f"({clinic.signed} signed notes, {clinic.warnings} screening warnings)."
    )
    typer.echo("Start the server with `careplan serve`, then open (with the admin key below):")
    typer.echo(f"  {base}/docs  (Authorize with the key)")
    typer.echo(
        f"  {base}/v1/care-plans/{clinic.plan_ids[0]}/summary  (Accept: text/html for the report)"
    )
    typer.echo(f"  {base}/fhir/R4/Patient/{clinic.client_ids[0]}")
    typer.echo(
        f"Referrer login: {clinic.referrer_email} / {clinic.referrer_password}; "
        f"referrer API key: {clinic.referrer_key}"
    )
    typer.echo("Admin API key (shown this once):")
    typer.echo(key)
