"""Field types shared by the schemas and the query parameters: input is validated once, here.

- Text never holds NUL or another control character (Unicode category Cc) nor a lone
  surrogate. Free text (`LongText`, `NoteText`, …) may hold tab, line feed and carriage return;
  single-line text (names, codes, phones, searches) none of them.
- Text is never empty or only white space (send `null` to clear an optional field); names and
  other single-line text lose leading and trailing white space.
- Every text type has a maximum length, shown in the OpenAPI schema.
- `Date` is an ISO `YYYY-MM-DD` string of the years 1900–2200. `Timestamp` is an RFC 3339
  string with a zone (`Z` or an offset), turned into UTC and then held to the same years.
  Numbers (`0`, Unix times) are never dates or timestamps.
- Integers, numbers and booleans are strict (`StrictInt`, `StrictFloat`, `StrictBool`): `"60"`
  is not an integer, `0` is not a boolean. `QueryFlag` is a query parameter's boolean: the
  words `true` and `false` only.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EARLIEST",
    "LATEST",
    "Address",
    "Code",
    "CursorText",
    "Date",
    "Description",
    "Email",
    "FreeText",
    "Label",
    "LongText",
    "Name",
    "NoteText",
    "PersonName",
    "Phone",
    "QueryFlag",
    "SearchText",
    "Secret",
    "ShortText",
    "SingleLine",
    "StrictBool",
    "StrictFloat",
    "StrictInt",
    "Timestamp",
    "free_text",
    "parse_date",
    "parse_query_flag",
    "parse_timestamp",
    "secret",
    "single_line",
]

# the years both databases store and every clinical date falls in, both ends included
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2200, 12, 31)
_EARLIEST_INSTANT = dt.datetime.combine(EARLIEST, dt.time(), dt.UTC)
_AFTER_LATEST_INSTANT = dt.datetime.combine(LATEST + dt.timedelta(days=1), dt.time(), dt.UTC)

_LINE_BREAKS = frozenset("\t\n\r")


def _refuse_characters(value: str, allowed: frozenset[str]) -> None:
    for position, char in enumerate(value):
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise PydanticCustomError(
                "control_character",
                "control characters are not allowed here (U+{code} at position {position})",
                {"code": f"{ord(char):04X}", "position": position},
            )


def _not_blank(value: str) -> None:
    if not value.strip():
        raise PydanticCustomError(
            "blank_text", "must not be empty or only white space; send null to leave it out"
        )


def single_line(value: str) -> str:
    """A name, code or other one-line value: no control characters, trimmed, not blank."""
    _refuse_characters(value, frozenset())
    _not_blank(value)
    return value.strip()


def free_text(value: str) -> str:
    """Prose: tab, line feed and carriage return allowed, other control characters not; not
    blank. Kept exactly as written."""
    _refuse_characters(value, _LINE_BREAKS)
    _not_blank(value)
    return value


def secret(value: str) -> str:
    """A password: printable characters (spaces too, but not only spaces), kept as typed."""
    _refuse_characters(value, frozenset())
    _not_blank(value)
    return value


SingleLine = AfterValidator(single_line)
FreeText = AfterValidator(free_text)

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200), SingleLine]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200), SingleLine, Field(examples=["Sam Lee"])
]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100), SingleLine]
Email = Annotated[
    str,
    # no stripping: the pattern in the schema is exactly what the server accepts
    StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    SingleLine,
    Field(examples=["sam.lee@clinic.example"]),
]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=50), SingleLine]
Code = Annotated[str, StringConstraints(min_length=1, max_length=100), SingleLine]
Label = Annotated[str, StringConstraints(min_length=1, max_length=50), SingleLine]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(secret)]
SearchText = Annotated[str, StringConstraints(min_length=1, max_length=100), SingleLine]
CursorText = Annotated[str, StringConstraints(min_length=1, max_length=200), SingleLine]

Address = Annotated[str, StringConstraints(min_length=1, max_length=500), FreeText]
Description = Annotated[str, StringConstraints(min_length=1, max_length=2_000), FreeText]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=10_000), FreeText]
NoteText = Annotated[str, StringConstraints(min_length=1, max_length=20_000), FreeText]


# ---- dates and timestamps --------------------------------------------------------------------

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)", re.ASCII
)


def _out_of_range(what: str) -> PydanticCustomError:
    return PydanticCustomError(
        f"{what}_out_of_range",
        "{what} must lie in the years {earliest}–{latest}",
        {"what": what, "earliest": EARLIEST.year, "latest": LATEST.year},
    )


def parse_date(value: Any) -> dt.date:
    """An ISO `YYYY-MM-DD` string (or a `date`) of the years 1900–2200."""
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("date_type", "a date is YYYY-MM-DD, without a time")
    if isinstance(value, str):
        if not _DATE_RE.fullmatch(value):
            raise PydanticCustomError("date_format", "a date is YYYY-MM-DD, e.g. 2026-03-14")
        try:
            value = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise PydanticCustomError("date_value", "{error}", {"error": str(exc)}) from exc
    if not isinstance(value, dt.date):
        raise PydanticCustomError("date_type", "a date is a string YYYY-MM-DD, e.g. 2026-03-14")
    if not EARLIEST <= value <= LATEST:
        raise _out_of_range("date")
    return value


def parse_timestamp(value: Any) -> dt.datetime:
    """An RFC 3339 string with a zone (or an aware `datetime`), in UTC, of the years 1900–2200.

    The offset is applied first, so an instant that only looks in range (`0001-01-01T00:00:00
    +14:00`) is refused like any other."""
    if isinstance(value, str):
        if not _TIMESTAMP_RE.fullmatch(value):
            raise PydanticCustomError(
                "timestamp_format",
                "a timestamp is RFC 3339 with a zone, e.g. 2026-03-14T09:30:00Z",
            )
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise PydanticCustomError("timestamp_value", "{error}", {"error": str(exc)}) from exc
    if not isinstance(value, dt.datetime):
        raise PydanticCustomError(
            "timestamp_type", "a timestamp is a string, e.g. 2026-03-14T09:30:00Z"
        )
    if value.utcoffset() is None:
        raise PydanticCustomError(
            "timestamp_zone", "a timestamp needs a zone, e.g. 2026-03-14T09:30:00Z"
        )
    try:
        in_utc = value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise _out_of_range("timestamp") from exc
    if not _EARLIEST_INSTANT <= in_utc < _AFTER_LATEST_INSTANT:
        raise _out_of_range("timestamp")
    return in_utc


Date = Annotated[
    dt.date,
    BeforeValidator(parse_date),
    Field(description="YYYY-MM-DD, years 1900–2200", examples=["2026-03-14"]),
]
Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(parse_timestamp),
    Field(
        description="RFC 3339 with a zone, e.g. 2026-03-14T09:30:00Z; stored in UTC; "
        "years 1900–2200",
        examples=["2026-03-14T09:30:00Z"],
    ),
]


# ---- query parameters ------------------------------------------------------------------------


def parse_query_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise PydanticCustomError("flag", "use true or false")


QueryFlag = Annotated[bool, BeforeValidator(parse_query_flag)]
