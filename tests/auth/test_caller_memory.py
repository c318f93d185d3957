"""Workers remember who a token names only while PostgreSQL tells them of every change: a
revocation, a new password, a deactivation or a role change on one worker empties the memory
of every other, and a worker that loses its listening connection looks callers up again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.auth import service as auth_service
from app.auth.callers import CallerMemory, ChangeListener, UserState
from app.auth.schemas import ApiKeyCreate
from app.core.security import Caller, Role
from tests.core.problems import assert_problem
from tests.databases import migrate, recreate_database, variant_url
from tests.live import serving
from tests.statements import captured

CALLER = Caller(actor_type="api_key", actor_id=uuid.uuid4(), role=Role.admin)
USER_ID = uuid.uuid4()


# ---- the memory itself --------------------------------------------------------------------------


def test_a_memory_that_does_not_listen_neither_answers_nor_remembers() -> None:
    memory = CallerMemory()
    memory.remember_api_key("digest", CALLER, memory.epoch)
    memory.remember_user(USER_ID, UserState(True, 3), memory.epoch)
    memory.set_listening(True)
    assert memory.api_key("digest") is None
    assert memory.user(USER_ID) is None
    memory.remember_api_key("digest", CALLER, memory.epoch)
    assert memory.api_key("digest") == CALLER
    memory.set_listening(False)
    assert memory.api_key("digest") is None
    memory.set_listening(True)
    assert memory.api_key("digest") is None  # listening again starts from nothing


def test_a_lookup_that_straddles_a_change_is_not_remembered() -> None:
    memory = CallerMemory()
    memory.set_listening(True)
    before = memory.epoch
    memory.forget()  # a change notified while the lookup ran
    memory.remember_api_key("digest", CALLER, before)
    memory.remember_user(USER_ID, UserState(True, 3), before)
    assert memory.api_key("digest") is None
    assert memory.user(USER_ID) is None
    memory.remember_user(USER_ID, UserState(True, 3), memory.epoch)
    assert memory.user(USER_ID) == UserState(True, 3)
    memory.forget()
    assert memory.user(USER_ID) is None


# ---- two workers on PostgreSQL -------------------------------------------------------------------


@asynccontextmanager
async def worker(url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One worker process's app, once its listener listens."""
    async with serving(url) as (app, http):
        await until(lambda: memory_of(app).listening)
        yield app, http


def memory_of(app: FastAPI) -> CallerMemory:
    memory: CallerMemory = app.state.callers
    return memory


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Polls `condition`: a notification crosses a socket, so it arrives after its commit."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.01)


@contextmanager
def lookups(app: FastAPI) -> Iterator[list[str]]:
    """The caller lookups (`api_keys` and `users` reads) the app sends while in the block."""
    found: list[str] = []
    with captured(app.state.sessionmaker.kw["bind"]) as sent:
        yield found
    found.extend(sql for sql, _ in sent if "FROM api_keys" in sql or "FROM users" in sql)


@pytest.fixture
async def shared_url(database_url: str, backend: str) -> str:
    if backend != "postgresql":
        pytest.skip("callers are remembered on PostgreSQL only (LISTEN/NOTIFY)")
    url = variant_url(database_url, "callers")
    await recreate_database(url)
    await migrate(url)
    return url


async def new_key(app: FastAPI, role: Role = Role.admin) -> tuple[uuid.UUID, dict[str, str]]:
    async with app.state.sessionmaker() as db:
        record, key = await auth_service.create_api_key(
            db, ApiKeyCreate(name=f"{role.value} key", role=role), None
        )
        await db.commit()
    return record.id, {"Authorization": f"Bearer {key}"}


async def test_a_revoked_key_is_refused_by_a_worker_that_remembered_it(shared_url: str) -> None:
    async with worker(shared_url) as (first, one), worker(shared_url) as (second, two):
        _, admin = await new_key(first)
        script_id, script = await new_key(first)
        for app, http in ((first, one), (second, two)):
            assert (await http.get("/v1/clients", headers=script)).status_code == 200
            with lookups(app) as seen:
                assert (await http.get("/v1/clients", headers=script)).status_code == 200
            assert seen == []  # remembered: no lookup

        epoch = memory_of(second).epoch
        assert (await one.delete(f"/v1/api-keys/{script_id}", headers=admin)).status_code == 204
        # the worker that revoked refuses the key at once, without waiting for PostgreSQL
        assert_problem(await one.get("/v1/clients", headers=script), 401, "unauthorized")
        # the other once the notification has crossed its socket
        await until(lambda: memory_of(second).epoch != epoch)
        assert_problem(await two.get("/v1/clients", headers=script), 401, "unauthorized")


async def test_a_new_password_on_one_worker_ends_old_tokens_on_the_other(shared_url: str) -> None:
    async with worker(shared_url) as (first, one), worker(shared_url) as (second, two):
        _, admin = await new_key(first)
        created = await one.post(
            "/v1/users",
            json={
                "email": "pat@clinic.example",
                "password": "correct horse battery staple",
                "display_name": "Pat",
                "role": "front_desk",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        login = await one.post(
            "/v1/auth/token",
            data={"username": "pat@clinic.example", "password": "correct horse battery staple"},
        )
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await two.get("/v1/clients", headers=token)).status_code == 200
        with lookups(second) as seen:
            assert (await two.get("/v1/clients", headers=token)).status_code == 200
        assert seen == []

        epoch = memory_of(second).epoch
        user = f"/v1/users/{created.json()['id']}"
        etag = (await one.get(user, headers=admin)).headers["etag"]
        changed = await one.patch(
            user, json={"password": "a whole new passphrase"}, headers={**admin, "If-Match": etag}
        )
        assert changed.status_code == 200, changed.text
        await until(lambda: memory_of(second).epoch != epoch)
        assert_problem(await two.get("/v1/clients", headers=token), 401, "unauthorized")


async def test_a_worker_that_loses_its_channel_looks_callers_up_again(shared_url: str) -> None:
    async with worker(shared_url) as (first, one), worker(shared_url) as (second, two):
        _, admin = await new_key(first)
        assert (await two.get("/v1/clients", headers=admin)).status_code == 200
        listener = second.state.auth_changes.connection
        async with first.state.sessionmaker() as db:
            await db.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": listener.get_server_pid()}
            )
        await until(lambda: not memory_of(second).listening)
        with lookups(second) as seen:
            assert (await two.get("/v1/clients", headers=admin)).status_code == 200
        assert len(seen) == 1  # not answered from memory while deaf
        # and it listens again on its own, from an empty memory
        await until(lambda: memory_of(second).listening)
        with lookups(second) as seen:
            assert (await two.get("/v1/clients", headers=admin)).status_code == 200
            assert (await two.get("/v1/clients", headers=admin)).status_code == 200
        assert len(seen) == 1


# ---- the listener's probes ---------------------------------------------------------------------


class DeafListener(ChangeListener):
    """A listener whose channel carries nothing back, as behind a transaction-pooling proxy."""

    deaf = False

    def _changed(self, *args: Any) -> None:
        if not self.deaf:
            super()._changed(*args)


@asynccontextmanager
async def listening(
    url: str, listener_class: type[ChangeListener] = ChangeListener
) -> AsyncIterator[tuple[CallerMemory, ChangeListener]]:
    memory = CallerMemory()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    listener = listener_class(dsn, memory, check_seconds=0.2, retry_seconds=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        yield memory, listener
    finally:
        stop.set()
        await task


async def test_a_channel_that_carries_nothing_back_stops_the_memory(shared_url: str) -> None:
    async with listening(shared_url, DeafListener) as (memory, listener):
        await until(lambda: memory.listening)
        assert isinstance(listener, DeafListener)
        listener.deaf = True
        await until(lambda: not memory.listening)
        await asyncio.sleep(0.5)  # it tries again, and never trusts a deaf channel
        assert not memory.listening
        listener.deaf = False
        await until(lambda: memory.listening)


async def test_probes_of_other_workers_leave_the_memory_alone(shared_url: str) -> None:
    async with listening(shared_url) as (memory, _), listening(shared_url) as (other, _):
        await until(lambda: memory.listening and other.listening)
        memory.remember_api_key("digest", CALLER, memory.epoch)
        await asyncio.sleep(1.0)  # both probe every 0.2 s
        assert memory.api_key("digest") == CALLER
