"""The shared steps of every resource's service: load by id, create, patch, archive."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.concurrency import MergePatch, apply_changes, check_version, storable
from app.core.db import Resource, utcnow
from app.core.errors import NotFound
from app.core.pagination import PageParams, paginate

R = TypeVar("R", bound=Resource)


async def get_or_404(
    db: AsyncSession,
    model: type[R],
    row_id: uuid.UUID,
    *,
    include_archived: bool = False,
    what: str | None = None,
) -> R:
    row = await db.get(model, row_id)
    if row is None or (not include_archived and getattr(row, "archived_at", None) is not None):
        raise NotFound(f"No such {what or model.__tablename__.rstrip('s').replace('_', ' ')}")
    return row


async def create(db: AsyncSession, model: type[R], data: BaseModel, **extra: Any) -> R:
    row = model(**storable(data), **extra)
    db.add(row)
    await db.flush()
    return row


async def patch(
    db: AsyncSession, row: R, changes: MergePatch | dict[str, Any], expected_version: int
) -> R:
    """Applies a merge-patch under `If-Match`; the flush runs UPDATE … WHERE version = :v."""
    check_version(row.version, expected_version)
    apply_changes(row, changes.changes() if isinstance(changes, MergePatch) else changes)
    await db.flush()
    return row


async def archive(db: AsyncSession, row: Any) -> None:
    if row.archived_at is None:
        row.archived_at = utcnow()
        await db.flush()


async def list_page(
    db: AsyncSession,
    model: type[R],
    page: PageParams,
    *conditions: ColumnElement[bool],
    include_archived: bool = False,
    stmt: Select[Any] | None = None,
) -> list[R]:
    query = stmt if stmt is not None else select(model)
    if not include_archived and hasattr(model, "archived_at"):
        query = query.where(model.archived_at.is_(None))  # type: ignore[attr-defined]
    for condition in conditions:
        query = query.where(condition)
    return list((await db.scalars(paginate(query, model, page))).all())


def name_matches(q: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring search over name columns; every word must match one."""
    words = [w for w in q.lower().split() if w]
    clauses = []
    for word in words:
        pattern = f"%{_escape_like(word)}%"
        clauses.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in columns)))
    return and_(true(), *clauses)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
