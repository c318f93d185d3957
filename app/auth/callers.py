"""Who a bearer token names, remembered per worker while PostgreSQL reports every change.

Every request names its caller: an API key is looked up by its digest, and a user access
token's generation is checked against the user's row (`app.auth.service`). On PostgreSQL each
worker remembers what those lookups found and listens on the channel `careplan_auth`, where
statement triggers on `api_keys` and `users` announce every committed change to either table
(migration `0008_auth_notify`). A notification empties the worker's memory, and so does losing
the listening connection: nothing is remembered again until the worker listens again.

PostgreSQL sends a notification when the change commits, so a revocation, a deactivation, a
new password or a new role holds on every other worker as soon as the notification arrives
there. The worker that made the change does not wait for it: a request whose transaction
changed an API key or a user empties its own worker's memory once it has committed, before
its answer leaves (`forget_if_changed`). A lookup that began before a change and ended after
it is not remembered (the epoch check), so it cannot bring a revoked key back.

SQLite (the embedded default) has no notification channel: there every request looks its
caller up, as a worker does whenever it is not listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, UOWTransaction

from app.auth.models import ApiKey, User
from app.core.security import Caller

logger = logging.getLogger("careplan.auth")

AUTH_CHANNEL = "careplan_auth"
_CHANGED = "careplan.auth.changed"
_PROBE = "probe:"  # notifications a listener sends itself to know the channel carries
MAX_REMEMBERED = 10_000
"""Entries per kind; at the limit the memory starts afresh (tokens in use come back at once)."""


@dataclass(frozen=True, slots=True)
class UserState:
    active: bool
    token_generation: int


class CallerMemory:
    """The worker's memory of API keys and users. It answers only while `listening`."""

    def __init__(self) -> None:
        self.listening = False
        self.epoch = 0  # bumped by every change notified and by every start or end of listening
        self._keys: dict[str, Caller] = {}
        self._users: dict[uuid.UUID, UserState] = {}

    def api_key(self, digest: str) -> Caller | None:
        return self._keys.get(digest) if self.listening else None

    def user(self, user_id: uuid.UUID) -> UserState | None:
        return self._users.get(user_id) if self.listening else None

    def remember_api_key(self, digest: str, caller: Caller, epoch: int) -> None:
        """`epoch` is the one read before the lookup began: a change since voids the lookup."""
        if self.listening and epoch == self.epoch:
            if len(self._keys) >= MAX_REMEMBERED:
                self._keys.clear()
            self._keys[digest] = caller

    def remember_user(self, user_id: uuid.UUID, state: UserState, epoch: int) -> None:
        if self.listening and epoch == self.epoch:
            if len(self._users) >= MAX_REMEMBERED:
                self._users.clear()
            self._users[user_id] = state

    def forget(self) -> None:
        self.epoch += 1
        self._keys.clear()
        self._users.clear()

    def set_listening(self, listening: bool) -> None:
        self.forget()
        self.listening = listening


@sa_event.listens_for(Session, "after_flush")
def _note_auth_changes(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(row, ApiKey | User) for row in (*session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


def forget_if_changed(memory: CallerMemory, session: Session) -> None:
    """After a commit: if it changed an API key or a user, this worker forgets at once."""
    if session.info.pop(_CHANGED, False):
        memory.forget()


class ChangeListener:
    """Keeps one connection listening on `AUTH_CHANNEL` for the worker's `CallerMemory`.

    The memory answers only once a probe, a notification this connection sends itself, has come
    back through the channel, and every `check_seconds` a new probe must come back within
    `check_seconds`: a connection that died without a word (a cut network) or a LISTEN that
    cannot be heard (a transaction-pooling proxy) stops the memory instead of leaving it stale.
    On any failure the memory stops and the listener connects again after `retry_seconds`."""

    def __init__(
        self,
        dsn: str,
        memory: CallerMemory,
        *,
        check_seconds: float = 10.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._memory = memory
        self._check_seconds = check_seconds
        self._retry_seconds = retry_seconds
        self._probe = ""
        self._probe_back = asyncio.Event()
        self.connection: asyncpg.Connection | None = None

    def _changed(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(_PROBE):
            if payload == self._probe:
                self._probe_back.set()
            return  # another worker's probe
        self._memory.forget()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._listen(stop)
            except Exception:
                logger.warning(
                    "no auth change channel: callers are looked up until it is back",
                    exc_info=True,
                )
            finally:
                self._memory.set_listening(False)
                await self._close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._retry_seconds)

    async def _listen(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=self._check_seconds)
        self.connection = connection
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(AUTH_CHANNEL, self._changed)
        await self._round_trip(connection)
        self._memory.set_listening(True)
        while not (stop.is_set() or lost.is_set()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, lost), self._check_seconds)
            if not (stop.is_set() or lost.is_set()):
                await self._round_trip(connection)
        if lost.is_set():
            raise ConnectionResetError("the listening connection closed")

    async def _round_trip(self, connection: asyncpg.Connection) -> None:
        """Sends a probe through the channel and waits for it to come back."""
        self._probe = f"{_PROBE}{uuid.uuid4().hex}"
        self._probe_back.clear()
        await connection.execute(
            "SELECT pg_notify($1, $2)", AUTH_CHANNEL, self._probe, timeout=self._check_seconds
        )
        await asyncio.wait_for(self._probe_back.wait(), self._check_seconds)

    async def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
