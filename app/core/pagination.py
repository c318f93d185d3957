"""Keyset pagination on (created_at, id) with opaque cursors, and the list query parameters."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Integer, Select, bindparam, tuple_

from app.core.errors import ValidationFailed
from app.core.fields import CursorText, QueryFlag, Timestamp

T = TypeVar("T")


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    after: tuple[dt.datetime, uuid.UUID] | None
    updated_since: dt.datetime | None


def encode_cursor(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = dt.datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("cursor timestamp without zone")
        return parsed, uuid.UUID(row_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed.field(["query", "cursor"], "not a cursor from this API") from exc


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")] = 50,
    cursor: Annotated[
        CursorText | None, Query(description="`next_cursor` of the previous page")
    ] = None,
    updated_since: Annotated[
        Timestamp | None,
        Query(description="Only rows changed at or after this instant (RFC 3339 with a zone)"),
    ] = None,
) -> PageParams:
    # async although it awaits nothing: FastAPI runs a plain `def` dependency in a thread
    return PageParams(
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
        updated_since=updated_since,
    )


Page = Annotated[PageParams, Depends(_page_params)]
IncludeArchived = Annotated[
    QueryFlag, Query(description="`true` also lists soft-deleted (archived) rows")
]


def paginate(stmt: Select[Any], model: Any, page: PageParams) -> Select[Any]:
    """Adds the keyset condition, `updated_since`, the stable order and limit + 1 to `stmt`."""
    if page.updated_since is not None:
        since = bindparam("updated_since", page.updated_since, type_=model.updated_at.type)
        stmt = stmt.where(model.updated_at >= since)
    return paginate_by(stmt, model.created_at, model.id, page)


def paginate_by(stmt: Select[Any], at: Any, row_id: Any, page: PageParams) -> Select[Any]:
    """Keyset pagination on (`at`, `row_id`), oldest first; fetches one row more than the page.

    The page's values are bound by name (`page_values`): a statement built once for a shape of
    page (`page_shape`) runs any page of that shape with its values given at execution."""
    if page.after is not None:
        after_at = bindparam("after_at", page.after[0], type_=at.type)
        after_id = bindparam("after_id", page.after[1], type_=row_id.type)
        stmt = stmt.where(tuple_(at, row_id) > tuple_(after_at, after_id))
    return stmt.order_by(at, row_id).limit(bindparam("page_size", page.limit + 1, type_=Integer))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def page_shape(page: PageParams) -> PageParams:
    """What a page's statement depends on (a cursor or not, `updated_since` or not), with
    placeholder values: a key to build that statement once."""
    return PageParams(
        limit=1,
        after=None if page.after is None else (_EPOCH, uuid.UUID(int=0)),
        updated_since=None if page.updated_since is None else _EPOCH,
    )


def page_values(page: PageParams) -> dict[str, Any]:
    """The values `paginate` binds, by name."""
    values: dict[str, Any] = {"page_size": page.limit + 1}
    if page.after is not None:
        values["after_at"], values["after_id"] = page.after
    if page.updated_since is not None:
        values["updated_since"] = page.updated_since
    return values


def _column(row: Any, name: str) -> Any:
    """A column of a row, whether the row is an ORM object or a dict of columns (as
    `app.core.statements` returns them)."""
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def page_of(
    rows: Sequence[T], page: PageParams, at: str = "created_at"
) -> tuple[list[T], str | None]:
    """Splits the limit + 1 rows of `paginate` into the page and the next cursor."""
    items = list(rows[: page.limit])
    if len(rows) > page.limit:
        last = items[-1]
        return items, encode_cursor(_column(last, at), _column(last, "id"))
    return items, None
