"""The canonical signed form, byte for byte: UTF-8 text as itself, timestamps in UTC with Z."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from app.session_records.signing import _plain, canonical_json


def test_text_outside_ascii_is_written_as_utf8_not_escaped() -> None:
    content = {"soap": {"subjective": "Łódź, ból pleców"}, "b": 1, "a": [True, None]}
    assert canonical_json(content) == (
        '{"a":[true,null],"b":1,"soap":{"subjective":"Łódź, ból pleców"}}'.encode()
    )


def test_nan_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"value": float("nan")})


def test_timestamps_are_utc_whatever_the_servers_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Toronto")
    time.tzset()
    try:
        at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
        assert _plain(at) == "2026-03-02T09:00:00Z"
        toronto = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        assert _plain(toronto) == "2026-03-02T09:00:00Z"
        assert _plain(dt.date(2026, 3, 2)) == "2026-03-02"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
