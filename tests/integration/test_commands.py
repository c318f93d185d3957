"""`careplan import clients`, `careplan export`, and bad input to every command: one line on
stderr and exit code 2."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.clients.models import Client
from app.core.db import create_engine
from tests.databases import migrate
from tests.test_cli import (
    assert_clean_failure,
    careplan,
    cli_database_url,  # noqa: F401  (the fixture)
    command_env,
    invoke,
)

HEADER = "given_name,family_name,date_of_birth,email,phone,address,pregnancy_due_date,notes"


async def _count(url: str, model: type[Client] | type[AuditEvent], **where: str) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            stmt = select(func.count()).select_from(model)
            for name, value in where.items():
                stmt = stmt.where(getattr(model, name) == value)
            return int(await connection.scalar(stmt) or 0)
    finally:
        await engine.dispose()


def _one_line_error(stderr: str) -> str:
    # alembic's own log lines (INFO …) may precede the message
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("INFO")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in stderr
    return lines[0]


async def test_bad_input_to_existing_commands_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bad_input.db'}"
    await migrate(url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = await careplan(url, tmp_path, "serve", "--port", port)
    assert busy.code == 2, busy
    assert f"cannot listen on 127.0.0.1:{port}" in _one_line_error(busy.stderr)

    revision = await careplan(url, tmp_path, "db", "upgrade", "no-such-revision")
    assert revision.code == 2, revision
    assert "no-such-revision" in _one_line_error(revision.stderr)

    no_terminal = await careplan(
        url, tmp_path, "admin", "create-user", "--email", "a@clinic.example", "--role", "admin"
    )
    assert no_terminal.code == 2, no_terminal
    assert "--password" in _one_line_error(no_terminal.stderr)
    assert "Aborted" not in no_terminal.stderr

    role = await careplan(url, tmp_path, "admin", "create-api-key", "--name", "x", "--role", "boss")
    assert role.code == 2, role
    assert "boss" in _one_line_error(role.stderr)

    unknown = await careplan(url, tmp_path, "no-such-command")
    assert unknown.code == 2, unknown
    assert "no-such-command" in _one_line_error(unknown.stderr)


async def test_downgrade_takes_a_relative_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relative.db'}"
    assert (await careplan(url, tmp_path, "db", "upgrade")).code == 0
    down = await careplan(url, tmp_path, "db", "downgrade", "-1")
    assert down.code == 0, down
    assert "downgraded to -1" in down.stdout
    up = await careplan(url, tmp_path, "db", "upgrade", "+1")
    assert up.code == 0, up


def _write(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


async def test_import_checks_every_row_first(cli_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    url = cli_database_url
    await migrate(url)
    env = command_env(url)
    csv_file = _write(
        tmp_path / "clients.csv",
        "Ana,Lopez,1980-02-03,ana@example.org,,,,",
        "Ben,,1975-05-06,,,,,",
        "Cleo,Ng,1990-13-01,,,,,",
        'Dana,"Smith-Jones",1992-07-08,not-an-email,,"1 Main St, Springfield",,'
        '"Prefers ""light"" pressure"',
    )
    refused = await invoke(env, "import", "clients", str(csv_file))
    assert_clean_failure(
        refused, 2, "line 3: family_name", "line 4: date_of_birth", "line 5: email"
    )
    assert "line 2" not in refused.stderr
    assert await _count(url, Client) == 0
    assert not (tmp_path / "clients.rejects.csv").exists()

    partial = await invoke(env, "import", "clients", str(csv_file), "--skip-invalid")
    assert partial.code == 0, partial
    assert "Imported 1 client" in partial.stdout
    rejects = (tmp_path / "clients.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects[0] == HEADER
    assert len(rejects) == 4
    assert rejects[1].startswith("Ben,,1975-05-06")
    assert await _count(url, Client) == 1
    assert await _count(url, AuditEvent, action="create", resource_type="client") == 1


async def test_import_twice_adds_nothing(cli_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    url = cli_database_url
    await migrate(url)
    env = command_env(url)
    csv_file = _write(
        tmp_path / "reordered.csv",
        "Lopez,Ana,1980-02-03",
        "Ng,Cleo,1990-01-01",
        "Ng,Cleo,1991-01-01",
        "ng,cleo,1990-01-01",
        header="family_name,given_name,date_of_birth",
    )
    first = await invoke(env, "import", "clients", str(csv_file))
    assert first.code == 0, first
    assert "Imported 3 client(s); 1 already present" in first.stdout
    again = await invoke(env, "import", "clients", str(csv_file))
    assert again.code == 0, again
    assert "Imported 0 client(s); 4 already present" in again.stdout
    assert await _count(url, Client) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER + ",shoe_size\nAna,Lopez,,,,,,,42\n", "unknown column 'shoe_size'"),
        ("family_name\nLopez\n", "missing column given_name"),
        ("", "empty file"),
        (None, "no such file"),
    ],
)
async def test_import_refuses_unusable_files(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    run = await invoke(
        command_env(f"sqlite:///{tmp_path / 'x.db'}"), "import", "clients", str(path)
    )
    assert_clean_failure(run, 2, message)


async def test_export_writes_files_and_a_manifest(cli_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    url = cli_database_url
    await migrate(url)
    env = command_env(url)
    csv_file = _write(tmp_path / "c.csv", "Ana,Lopez,1980-02-03,,,,,", "Ben,Ode,,,,,,")
    assert (await invoke(env, "import", "clients", str(csv_file))).code == 0
    folder = tmp_path / "out"
    run = await invoke(env, "export", str(folder), "--resources", "clients,sessions")
    assert run.code == 0, run
    manifest = json.loads((folder / "manifest.json").read_text())
    entries = {entry["resource"]: entry for entry in manifest["files"]}
    assert set(entries) == {"clients", "sessions"}
    clients = (folder / "clients.ndjson").read_bytes()
    assert entries["clients"]["count"] == 2
    assert entries["clients"]["sha256"] == hashlib.sha256(clients).hexdigest()
    names = {orjson.loads(line)["data"]["family_name"] for line in clients.splitlines()}
    assert names == {"Lopez", "Ode"}
    assert entries["sessions"]["count"] == 0
    assert (folder / "sessions.ndjson").read_bytes() == b""
    assert await _count(url, AuditEvent, action="export") == 1

    not_empty = await invoke(env, "export", str(folder))
    assert_clean_failure(not_empty, 2, "not empty")
    unknown = await invoke(env, "export", str(tmp_path / "new"), "--resources", "patients")
    assert_clean_failure(unknown, 2, "patients")
