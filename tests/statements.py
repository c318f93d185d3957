"""The SQL an app sends: every statement (and its parameters) executed on an engine or a
connection while a block runs, as the driver receives it, whether it went through SQLAlchemy
or straight to the driver (`app.core.statements`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Engine, event

from app.core import statements


class HasSyncEngine(Protocol):
    @property
    def sync_engine(self) -> Engine: ...


@contextmanager
def captured(bind: HasSyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """`(statement, parameters)` of each statement `bind` executes inside the block."""
    sent: list[tuple[str, Any]] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    def on_driver(statement: str, arguments: Any) -> None:
        sent.append((statement, arguments))

    event.listen(bind.sync_engine, "before_cursor_execute", on_execute)
    statements.observers.append(on_driver)
    try:
        yield sent
    finally:
        statements.observers.remove(on_driver)
        event.remove(bind.sync_engine, "before_cursor_execute", on_execute)
