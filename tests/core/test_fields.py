"""The shared field types: text, dates, timestamps and flags, on both sides of every boundary."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.fields import (
    Date,
    Description,
    LongText,
    Name,
    NoteText,
    PersonName,
    QueryFlag,
    SearchText,
    Secret,
    ShortText,
    Timestamp,
)

NAME: TypeAdapter[str] = TypeAdapter(Name)
LONG: TypeAdapter[str] = TypeAdapter(LongText)
SECRET: TypeAdapter[str] = TypeAdapter(Secret)
DATE: TypeAdapter[dt.date] = TypeAdapter(Date)
TIMESTAMP: TypeAdapter[dt.datetime] = TypeAdapter(Timestamp)
FLAG: TypeAdapter[bool] = TypeAdapter(QueryFlag)


def refused(adapter: TypeAdapter[Any], value: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    errors = caught.value.errors()
    assert len(errors) == 1
    return str(errors[0]["type"])


# ---- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["\x00", "Sam\x00", "a\tb", "a\nb", "a\rb", "\x07", "\x1b", "\x7f", "\x85", "\x9f"]
)
def test_single_line_text_refuses_every_control_character(value: str) -> None:
    assert refused(NAME, value) == "control_character"


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "\x0b", "\x0c", "\x1f", "\x7f", "\x85"])
def test_free_text_refuses_control_characters_other_than_line_breaks(value: str) -> None:
    assert refused(LONG, value) == "control_character"


def test_free_text_keeps_tab_line_feed_and_carriage_return_as_written() -> None:
    text = "  Left knee:\tswollen\r\n\tno deep work\n"
    assert LONG.validate_python(text) == text


@pytest.mark.parametrize("value", ["", " ", "   ", "\u00a0", "\u2003\u3000"])
def test_names_that_are_empty_or_only_white_space_are_refused(value: str) -> None:
    assert refused(NAME, value) in ("blank_text", "string_too_short")


@pytest.mark.parametrize("value", ["", " ", "\t\n", "\r\n  "])
def test_free_text_of_only_white_space_is_refused(value: str) -> None:
    assert refused(LONG, value) in ("blank_text", "string_too_short")


def test_names_are_trimmed_and_printable_unicode_is_kept() -> None:
    assert NAME.validate_python("  Zoë O'Brien-Łukasz  ") == "Zoë O'Brien-Łukasz"
    assert NAME.validate_python("李小龍") == "李小龍"


@pytest.mark.parametrize(
    ("field_type", "maximum"),
    [
        (Name, 200),
        (ShortText, 200),
        (PersonName, 100),
        (SearchText, 100),
        (Description, 2_000),
        (LongText, 10_000),
        (NoteText, 20_000),
        (Secret, 256),
    ],
)
def test_text_types_have_a_documented_maximum_length(field_type: Any, maximum: int) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(field_type)
    assert adapter.json_schema()["maxLength"] == maximum
    assert adapter.validate_python("a" * maximum) == "a" * maximum
    assert refused(adapter, "a" * (maximum + 1)) == "string_too_long"


def test_passwords_keep_spaces_but_refuse_control_characters_and_blanks() -> None:
    assert SECRET.validate_python(" correct horse ") == " correct horse "
    assert refused(SECRET, "pass\x00word") == "control_character"
    assert refused(SECRET, "    ") == "blank_text"


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValidationError):
        LONG.validate_python("half \ud800 a pair")


# ---- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1900-01-01", "2026-03-14", "2200-12-31"])
def test_dates_inside_the_years_1900_to_2200_are_taken(value: str) -> None:
    assert DATE.validate_python(value) == dt.date.fromisoformat(value)


@pytest.mark.parametrize("value", ["1899-12-31", "2201-01-01", "0001-01-01", "9999-12-31"])
def test_dates_outside_the_years_1900_to_2200_are_refused(value: str) -> None:
    assert refused(DATE, value) == "date_out_of_range"


@pytest.mark.parametrize(
    "value", [0, 1_700_000_000, 20260314, "0", "20260314", "2026-03-14T00:00:00", "14/03/2026"]
)
def test_dates_are_iso_strings_only(value: Any) -> None:
    assert refused(DATE, value) in ("date_type", "date_format")


@pytest.mark.parametrize("value", ["2026-03-14\n", "٢٠٢٦-٠٣-١٤", " 2026-03-14"])
def test_dates_are_exactly_ten_ascii_characters(value: str) -> None:
    assert refused(DATE, value) == "date_format"


def test_an_impossible_date_is_refused() -> None:
    assert refused(DATE, "2026-02-30") == "date_value"


# ---- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-03-14T09:30:00Z", dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)),
        ("2026-03-14T11:30:00+02:00", dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)),
        ("2026-03-14T00:30:00-14:00", dt.datetime(2026, 3, 14, 14, 30, tzinfo=dt.UTC)),
        ("1900-01-01T00:00:00Z", dt.datetime(1900, 1, 1, tzinfo=dt.UTC)),
        ("1900-01-01T14:00:00+14:00", dt.datetime(1900, 1, 1, tzinfo=dt.UTC)),
        ("2200-12-31T23:59:59Z", dt.datetime(2200, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
        ("2200-12-31T10:00:00-13:59", dt.datetime(2200, 12, 31, 23, 59, tzinfo=dt.UTC)),
    ],
)
def test_timestamps_are_normalised_to_utc(value: str, utc: dt.datetime) -> None:
    parsed = TIMESTAMP.validate_python(value)
    assert parsed == utc
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC: Python itself cannot hold it
        "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "0001-01-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "1900-01-01T00:30:00+01:00",  # 1899 in UTC
        "2201-01-01T00:00:00Z",
        "2200-12-31T23:00:00-02:00",  # 2201 in UTC
    ],
)
def test_timestamps_outside_the_years_1900_to_2200_in_utc_are_refused(value: str) -> None:
    assert refused(TIMESTAMP, value) == "timestamp_out_of_range"


@pytest.mark.parametrize(
    "value", [0, 1_700_000_000, "0", "1700000000", "2026-03-14", "2026-03-14T09:30:00", "now"]
)
def test_timestamps_are_rfc_3339_strings_with_a_zone(value: Any) -> None:
    assert refused(TIMESTAMP, value) in ("timestamp_type", "timestamp_format")


@pytest.mark.parametrize("value", ["2026-03-14T09:30:00Z\n", "٢٠٢٦-03-14T09:30:00Z"])
def test_timestamps_are_ascii_with_nothing_after_the_zone(value: str) -> None:
    assert refused(TIMESTAMP, value) == "timestamp_format"


def test_an_aware_datetime_object_is_taken_and_a_naive_one_refused() -> None:
    aware = dt.datetime(2026, 3, 14, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert TIMESTAMP.validate_python(aware) == dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)
    assert refused(TIMESTAMP, dt.datetime(2026, 3, 14, 9, 30)) == "timestamp_zone"


# ---- query flags -----------------------------------------------------------------------------


def test_query_flags_are_the_words_true_and_false() -> None:
    assert FLAG.validate_python("true") is True
    assert FLAG.validate_python("false") is False


@pytest.mark.parametrize("value", ["0", "1", "yes", "no", "on", "True", "FALSE", ""])
def test_query_flags_refuse_every_other_spelling(value: str) -> None:
    assert refused(FLAG, value) == "flag"
