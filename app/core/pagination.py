"""Keyset pagination on (created_at, id) with opaque cursors, and the list query parameters."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Select, tuple_

from app.core.errors import ValidationFailed

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


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def rfc3339_only(value: Any) -> Any:
    """A timestamp in a query is RFC 3339 text, as the schema says: never a number of seconds."""
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("an RFC 3339 timestamp is expected, e.g. 2026-01-31T09:00:00Z")
    return value


QueryTimestamp = Annotated[dt.datetime, BeforeValidator(rfc3339_only)]
"""A timestamp query parameter: `date-time` text only (pydantic alone would take `0.5`)."""


def _page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1–200")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    updated_since: Annotated[
        QueryTimestamp | None, Query(description="Only rows changed at or after this instant")
    ] = None,
) -> PageParams:
    if updated_since is not None and updated_since.tzinfo is None:
        raise ValidationFailed.field(
            ["query", "updated_since"], "timestamps need a zone, e.g. 2026-01-31T09:00:00Z"
        )
    return PageParams(
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
        updated_since=updated_since,
    )


Page = Annotated[PageParams, Depends(_page_params)]
IncludeArchived = Annotated[bool, Query(description="Also list soft-deleted (archived) rows")]


def paginate(stmt: Select[Any], model: Any, page: PageParams) -> Select[Any]:
    """Adds the keyset condition, `updated_since`, the stable order and limit + 1 to `stmt`."""
    if page.updated_since is not None:
        stmt = stmt.where(model.updated_at >= page.updated_since)
    return paginate_by(stmt, model.created_at, model.id, page)


def paginate_by(stmt: Select[Any], at: Any, row_id: Any, page: PageParams) -> Select[Any]:
    """Keyset pagination on (`at`, `row_id`), oldest first; fetches one row more than the page."""
    if page.after is not None:
        stmt = stmt.where(tuple_(at, row_id) > tuple_(*page.after))
    return stmt.order_by(at, row_id).limit(page.limit + 1)


def page_of(
    rows: Sequence[T], page: PageParams, at: str = "created_at"
) -> tuple[list[T], str | None]:
    """Splits the limit + 1 rows of `paginate` into the page and the next cursor."""
    items = list(rows[: page.limit])
    if len(rows) > page.limit:
        last: Any = items[-1]
        return items, encode_cursor(getattr(last, at), last.id)
    return items, None
