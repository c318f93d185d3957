"""The shared steps of every resource's service: load by id, create, patch, archive."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Executable,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from app.core import statements
from app.core.concurrency import MergePatch, apply_changes, check_version, storable
from app.core.db import Resource, utcnow
from app.core.errors import NotFound
from app.core.pagination import PageParams, paginate
from app.core.statements import Row

R = TypeVar("R", bound=Resource)


async def get_or_404(
    db: AsyncSession,
    model: type[R],
    row_id: uuid.UUID,
    *,
    include_archived: bool = False,
    what: str | None = None,
    options: Sequence[ORMOption] = (),
) -> R:
    """`options` (e.g. `selectinload` of children) are applied to a fresh SELECT, so children
    are loaded even when the row is already in the session."""
    row: R | None
    if options:
        row = await db.scalar(
            select(model)
            .where(model.id == row_id)
            .options(*options)
            .execution_options(populate_existing=True)
        )
    else:
        row = await db.get(model, row_id)
    if row is None or (not include_archived and getattr(row, "archived_at", None) is not None):
        raise NotFound(f"No such {what or model.__tablename__.rstrip('s').replace('_', ' ')}")
    return row


async def row_or_404(
    db: AsyncSession,
    statement: Executable,
    what: str,
    *,
    include_archived: bool = False,
    **params: Any,
) -> Row:
    """`get_or_404` for a Core statement run by `app.core.statements` (a dict row): 404 when it
    finds nothing, or finds an archived row and `include_archived` is not set."""
    row = await statements.fetch_one(db, statement, **params)
    if row is None or (not include_archived and row.get("archived_at") is not None):
        raise NotFound(f"No such {what}")
    return row


async def create(db: AsyncSession, model: type[R], data: BaseModel, **extra: Any) -> R:
    row = model(**storable(data), **extra)
    db.add(row)
    await db.flush()
    return row


ApplyChanges = Callable[[Any, dict[str, Any]], Awaitable[None]]


async def patch(
    db: AsyncSession,
    row: R,
    changes: MergePatch | dict[str, Any],
    expected_version: int,
    *,
    apply: ApplyChanges | None = None,
) -> R:
    """Applies a merge-patch under `If-Match`; the flush runs UPDATE … WHERE version = :v.

    A resource whose changes carry rules (checks, children, derived columns) passes `apply`,
    which receives the row and the changes after the version check and sets them itself.
    """
    check_version(row.version, expected_version)
    values = changes.changes() if isinstance(changes, MergePatch) else changes
    if apply is None:
        apply_changes(row, values)
    else:
        await apply(row, values)
    await db.flush()
    return row


async def archive(db: AsyncSession, row: Any) -> None:
    if row.archived_at is None:
        row.archived_at = utcnow()
        await db.flush()


def page_query(
    model: type[Resource],
    page: PageParams,
    *conditions: ColumnElement[bool],
    include_archived: bool = False,
    stmt: Select[Any] | None = None,
) -> Select[Any]:
    """One page of `model`'s rows (`stmt`, by default the whole entity): live rows only unless
    `include_archived`, the conditions, then `paginate`'s keyset, order and limit + 1."""
    query = stmt if stmt is not None else select(model)
    if not include_archived and hasattr(model, "archived_at"):
        query = query.where(model.archived_at.is_(None))
    for condition in conditions:
        query = query.where(condition)
    return paginate(query, model, page)


async def list_page(
    db: AsyncSession,
    model: type[R],
    page: PageParams,
    *conditions: ColumnElement[bool],
    include_archived: bool = False,
    stmt: Select[Any] | None = None,
) -> list[R]:
    query = page_query(model, page, *conditions, include_archived=include_archived, stmt=stmt)
    return list((await db.scalars(query)).all())


def name_matches(q: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring search over name columns; every word must match one. The
    words are bound by name (`search_patterns`)."""
    clauses = []
    for name, pattern in search_patterns(q).items():
        word: BindParameter[str] = bindparam(name, pattern)
        clauses.append(or_(*(func.lower(c).like(word, escape="\\") for c in columns)))
    return and_(true(), *clauses)


def search_patterns(q: str) -> dict[str, str]:
    """The LIKE pattern of each word of `q`, by the name `name_matches` binds it to."""
    words = [w for w in q.lower().split() if w]
    return {f"word_{i}": f"%{_escape_like(word)}%" for i, word in enumerate(words)}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
