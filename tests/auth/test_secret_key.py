"""The signing key: never in the source; generated once into an owner-only file and shared by
every worker; required in production; tokens signed with another key are refused."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from alembic import command
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from app import cli as careplan_cli
from app.core.config import Settings
from app.core.secret_key import SecretKeyError, ensure_key_file, read_key_file, signing_key
from app.main import create_app
from tests.conftest import Staff
from tests.core.problems import assert_problem

ROOT = Path(__file__).resolve().parent.parent.parent
# the development key the source once carried: anyone could mint tokens with it
PUBLISHED_KEY = "careplan-development-secret-key-do-not-use-in-production"
PASSWORD = "correct horse battery staple"


def settings_without_key(database_url: str, **extra: Any) -> Settings:
    return Settings.model_validate(
        {
            "DATABASE_URL": database_url,
            "CAREPLAN_ENV": "test",
            "CAREPLAN_ARGON2_TIME_COST": 1,
            "CAREPLAN_ARGON2_MEMORY_KIB": 1024,
            "CAREPLAN_ACCESS_LOG": False,
            **extra,
        }
    )


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CAREPLAN_SECRET_KEY", "CAREPLAN_SECRET_KEY_FILE", "CAREPLAN_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file, and the working folder is the test's own


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_in_the_source() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if PUBLISHED_KEY in path.read_text() or "DEVELOPMENT_SECRET_KEY" in path.read_text()
    ]
    assert offenders == []
    assert Settings.model_fields["secret_key"].default is None


def test_the_first_start_generates_an_owner_only_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    key = ensure_key_file(path)
    assert mode_of(path) == 0o600
    assert len(key) == 64  # secrets.token_urlsafe(48)
    assert path.read_text().strip() == key
    assert ensure_key_file(path) == key  # reused, not replaced
    assert ensure_key_file(tmp_path / "other.key") != key


def test_the_key_file_is_exactly_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        ensure_key_file(tmp_path / "loose-umask.key")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "loose-umask.key") == 0o600


def _create(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put(ensure_key_file(Path(path)))


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "shared.key"
    workers = 6
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=_create, args=(str(path), barrier, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    keys = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert len(set(keys)) == 1
    assert path.read_text().strip() == keys[0]


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("k" * 40, 0o644, "may be read by others"),
        ("k" * 40, 0o640, "may be read by others"),
        ("k" * 31, 0o600, "holds no key of 32"),
        ("", 0o600, "holds no key of 32"),
    ],
    ids=["world-readable", "group-readable", "too-short", "empty"],
)
def test_unsafe_or_unusable_key_files_are_refused(
    tmp_path: Path, content: str, mode: int, message: str
) -> None:
    path = tmp_path / "given.key"
    path.write_text(content)
    path.chmod(mode)
    with pytest.raises(SecretKeyError, match=message):
        read_key_file(path, wait_s=0.05)


def test_a_usable_key_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "given.key"
    path.write_text("k" * 32 + "\n")
    path.chmod(0o600)
    assert read_key_file(path) == "k" * 32
    path.chmod(0o400)
    assert read_key_file(path) == "k" * 32


def test_where_the_key_file_goes(tmp_path: Path) -> None:
    sqlite = settings_without_key(f"sqlite:///{tmp_path / 'data' / 'clinic.db'}")
    assert sqlite.secret_key_path() == tmp_path / "data" / "clinic.db.secret-key"
    postgres = settings_without_key("postgresql://careplan@db:5432/careplan")
    assert postgres.secret_key_path() == Path("careplan.secret-key")
    chosen = settings_without_key(
        "postgresql://careplan@db:5432/careplan",
        CAREPLAN_SECRET_KEY_FILE=str(tmp_path / "chosen.key"),
    )
    assert chosen.secret_key_path() == tmp_path / "chosen.key"


def test_the_environment_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    settings = settings_without_key(
        f"sqlite:///{tmp_path / 'clinic.db'}", CAREPLAN_SECRET_KEY="e" * 40
    )
    assert signing_key(settings) == "e" * 40
    assert not (tmp_path / "clinic.db.secret-key").exists()


def test_an_app_started_without_a_key_makes_one_beside_the_sqlite_file(
    tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    settings = settings_without_key(f"sqlite:///{tmp_path / 'clinic.db'}")
    first = create_app(settings, sessionmaker=sessionmaker)
    key_file = tmp_path / "clinic.db.secret-key"
    assert mode_of(key_file) == 0o600
    assert first.state.secret_key == key_file.read_text().strip()
    second = create_app(settings, sessionmaker=sessionmaker)
    assert second.state.secret_key == first.state.secret_key


def test_production_never_generates_a_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CAREPLAN_SECRET_KEY"):
        settings_without_key("postgresql://careplan@db/careplan", CAREPLAN_ENV="production")
    missing = tmp_path / "missing.key"
    settings = settings_without_key(
        "postgresql://careplan@db/careplan",
        CAREPLAN_ENV="production",
        CAREPLAN_SECRET_KEY_FILE=str(missing),
    )
    with pytest.raises(SecretKeyError, match="no signing key"):
        signing_key(settings)
    assert not missing.exists()
    missing.write_text("p" * 48)
    missing.chmod(0o600)
    assert signing_key(settings) == "p" * 48


def test_serve_refuses_to_start_in_production_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda *_: started.append("migrate"))
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: started.append("serve"))
    monkeypatch.setattr(careplan_cli, "configure_logging", lambda level: None)
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.db'}",
        "CAREPLAN_ENV": "production",
        "CAREPLAN_SECRET_KEY_FILE": str(tmp_path / "absent.key"),
    }
    result = CliRunner().invoke(careplan_cli.cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "no signing key" in result.stdout + result.stderr
    assert started == []
    assert not (tmp_path / "absent.key").exists()


async def _token(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/v1/auth/token", data={"username": "k@x.example", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_tokens_signed_with_another_key_are_refused(
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    staff: Staff,
) -> None:
    created = await client.post(
        "/v1/users",
        json={"email": "k@x.example", "password": PASSWORD, "display_name": "K", "role": "admin"},
        headers=staff.headers("admin"),
    )
    assert created.status_code == 201, created.text
    ours, theirs = (
        create_app(settings_without_key(f"sqlite:///{tmp_path / name}"), sessionmaker=sessionmaker)
        for name in ("ours.db", "theirs.db")
    )
    assert ours.state.secret_key != theirs.state.secret_key
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ours), base_url="http://o") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=theirs), base_url="http://t") as b,
    ):
        token = await _token(a)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await a.get("/v1/users", headers=headers)).status_code == 200
        assert_problem(await b.get("/v1/users", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_environment_key_is_refused_not_used(blank: str) -> None:
    with pytest.raises(ValidationError, match="CAREPLAN_SECRET_KEY is empty"):
        settings_without_key("sqlite:///clinic.db", CAREPLAN_SECRET_KEY=blank)
