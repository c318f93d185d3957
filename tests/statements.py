"""The SQL an app sends: every statement (and its parameters) executed on an engine or a
connection while a block runs, as the driver receives it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Engine, event


class HasSyncEngine(Protocol):
    @property
    def sync_engine(self) -> Engine: ...


@contextmanager
def captured(bind: HasSyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """`(statement, parameters)` of each statement `bind` executes inside the block."""
    sent: list[tuple[str, Any]] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(bind.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        event.remove(bind.sync_engine, "before_cursor_execute", on_execute)
