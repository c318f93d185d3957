"""The pure parts: progress, the summary over rows, the Accept header, charts and PDF text."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from app.core.errors import NotAcceptable
from app.core.statements import Row
from app.summaries.charts import format_value, goal_chart, nice_step, value_range
from app.summaries.report import ReportFormat, negotiate, pdf_text
from app.summaries.schemas import GoalProgress, MeasurePoint
from app.summaries.service import (
    CompletedSession,
    MeasuredValue,
    StatusCount,
    progress_percent,
    summarize_care_plan,
)
from tests.summaries.rows import client_row, plan_row

T0 = dt.datetime(2030, 3, 4, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("baseline", "target", "latest", "expected"),
    [
        (7, 2, 4, 60.0),  # pain going down: 100 × (4 − 7) / (2 − 7)
        (7, 2, 7, 0.0),
        (7, 2, 2, 100.0),
        (7, 2, 1, 120.0),  # past the target
        (7, 2, 8, -20.0),  # worse than at the start
        (90, 120, 85, -16.7),  # −16.666…
        (0, 3, 1, 33.3),
        (0, 3, 2, 66.7),
        (0, 4, 0.13, 3.3),  # 3.25: a half rounds away from zero
        (0, 40, 1.3, 3.3),  # 3.25 again, though 1.3 is not exact in binary
        (0, -4, 0.13, -3.3),  # −3.25 → −3.3
        (10, 0, 10.01, -0.1),
        (10, 0, 9.9999, 0.0),  # never "-0.0"
        (7, 2, None, None),
        (None, 2, 4, None),
        (7, None, 4, None),
        (5, 5, 4, None),  # target equals baseline
        (5.0, 5, 5, None),
    ],
)
def test_progress_percent(
    baseline: float | None, target: float | None, latest: float | None, expected: float | None
) -> None:
    result = progress_percent(baseline, target, latest)
    assert result == expected
    if result == 0:
        assert str(result) == "0.0"


def _plan() -> tuple[Row, Row, Row]:
    plan = plan_row(uuid.uuid4(), title="Plan", kind="wellness")
    client = client_row(plan["client_id"])
    goal = {
        "id": uuid.uuid4(),
        "care_plan_id": plan["id"],
        "description": "G",
        "measure": "nprs",
        "unit": None,
        "baseline_value": 8,
        "target_value": 0,
        "mcid": None,
        "status": "active",
    }
    return plan, client, goal


def test_summary_over_rows_ignores_other_plans_and_orders_within_a_session() -> None:
    plan, client, goal = _plan()
    other_plan = uuid.uuid4()
    first, second = uuid.UUID(int=2), uuid.UUID(int=1)  # same time: ordered by session id
    values = [
        # the same goal measured twice after one session: the later position wins
        MeasuredValue(first, plan["id"], T0, goal["id"], "nprs", 3, "post", 0),
        MeasuredValue(first, plan["id"], T0, goal["id"], "nprs", 2, "post", 1),
        MeasuredValue(first, plan["id"], T0, goal["id"], "nprs", 6, "pre", 2),
        MeasuredValue(second, plan["id"], T0, goal["id"], "nprs", 9, "post", 0),
        MeasuredValue(
            uuid.uuid4(), other_plan, T0 + dt.timedelta(days=9), goal["id"], "nprs", 0, "post", 0
        ),
    ]
    sessions = [
        CompletedSession(first, plan["id"], T0, ["a", "b"], "A1", None, None),
        CompletedSession(second, plan["id"], T0, ["a"], None, "P0", "event"),
        CompletedSession(uuid.uuid4(), other_plan, T0, ["z"], "Z", "Z", "Z"),
    ]
    counts = [
        StatusCount(plan["id"], "completed", 2, 0),
        StatusCount(plan["id"], "scheduled", 5, 2),
        StatusCount(other_plan, "cancelled", 7, 0),
    ]
    progress = summarize_care_plan(plan, client, [goal], counts, sessions, values, T0)
    summary = progress.summary
    assert summary.sessions.model_dump() == {
        "planned": None,
        "completed": 2,
        "cancelled": 0,
        "no_show": 0,
        "upcoming": 2,
        "awaiting_signature": 0,
    }
    # session 1 (smaller id) first: 9; then session 2: pre 6, post 3, post 2
    assert [p.value for p in summary.measures[0].points] == [9, 6, 3, 2]
    (g,) = summary.goals
    assert (g.latest_value, g.progress_percent) == (2, 75.0)  # 100 × (2 − 8) / (0 − 8)
    assert [p.value for p in progress.points_of(goal["id"])] == [9, 6, 3, 2]
    assert summary.techniques == {"a": 2, "b": 1}
    assert (summary.latest_assessment, summary.latest_plan) == ("A1", "P0")
    assert [e.description for e in summary.adverse_events] == ["event"]


def test_a_plan_without_completed_sessions_awaits_no_signature() -> None:
    plan, client, goal = _plan()
    counts = [
        StatusCount(plan["id"], "scheduled", 3, 3),
        StatusCount(plan["id"], "cancelled", 1, 0),
    ]
    summary = summarize_care_plan(plan, client, [goal], counts, [], [], T0).summary
    assert summary.sessions.model_dump() == {
        "planned": None,
        "completed": 0,
        "cancelled": 1,
        "no_show": 0,
        "upcoming": 3,
        "awaiting_signature": 0,
    }
    (g,) = summary.goals
    assert (g.latest_value, g.progress_percent) == (None, None)


def test_techniques_most_used_first_then_by_name() -> None:
    plan, client, goal = _plan()
    sessions = [
        CompletedSession(
            uuid.UUID(int=n), plan["id"], T0 + dt.timedelta(days=n), used, None, None, None
        )
        for n, used in enumerate(
            [["effleurage", "trigger_point"], ["trigger_point"], ["stretching", "trigger_point"]]
        )
    ]
    counts = [StatusCount(plan["id"], "completed", 3, 0)]
    summary = summarize_care_plan(plan, client, [goal], counts, sessions, [], T0).summary
    assert list(summary.techniques.items()) == [
        ("trigger_point", 3),
        ("effleurage", 1),
        ("stretching", 1),
    ]


def test_dates_are_utc_dates_whatever_the_servers_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # 23:30 UTC on 4 March is already 5 March in Auckland: the summary says 4 March
    plan, client, goal = _plan()
    late = dt.datetime(2030, 3, 4, 23, 30, tzinfo=dt.UTC)
    session = CompletedSession(uuid.uuid4(), plan["id"], late, [], None, None, "Dizzy")
    counts = [StatusCount(plan["id"], "completed", 1, 0)]
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        progress = summarize_care_plan(plan, client, [goal], counts, [session], [], T0)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert [e.date for e in progress.summary.adverse_events] == [dt.date(2030, 3, 4)]
    assert [(n.session_id, n.date) for n in progress.notes] == [(session.id, dt.date(2030, 3, 4))]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ReportFormat.json),
        ("  ", ReportFormat.json),
        ("*/*", ReportFormat.json),
        ("application/*", ReportFormat.json),
        ("Application/JSON", ReportFormat.json),
        ("text/html", ReportFormat.html),
        ("text/html; charset=utf-8", ReportFormat.html),
        ("TEXT/*", ReportFormat.html),
        ("application/pdf", ReportFormat.pdf),
        ("application/pdf, text/html", ReportFormat.pdf),  # the caller's order at equal weight
        ("text/html, application/pdf", ReportFormat.html),
        ("text/html;q=0.4, application/pdf;q=0.6", ReportFormat.pdf),
        ("*/*;q=0.9, application/pdf;q=0.1", ReportFormat.json),
        ("*/*, application/json;q=0", ReportFormat.html),  # json refused, the next offer wins
        ("application/*;q=0.2, text/html;q=0.1", ReportFormat.json),
        ("text/html;q=abc", ReportFormat.html),  # a malformed weight counts as 1
        ("garbage, application/pdf", ReportFormat.pdf),
        ("application/pdf;q=2", ReportFormat.pdf),
    ],
)
def test_negotiate(accept: str | None, expected: ReportFormat) -> None:
    assert negotiate(accept) is expected


@pytest.mark.parametrize(
    "accept",
    ["image/png", "application/xml, text/plain", "*/*;q=0", "text/html;q=0", "garbage", "text"],
)
def test_negotiate_refuses(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        negotiate(accept)


def test_pdf_text_keeps_what_the_embedded_font_has() -> None:
    assert pdf_text("Zoë – “café” … 90°") == "Zoë – “café” … 90°"
    assert pdf_text("a → b ≥ c ≤ d − e") == "a → b ≥ c ≤ d − e"
    assert pdf_text("Łucja Wąsowska-Dvořák, Groß") == "Łucja Wąsowska-Dvořák, Groß"
    assert pdf_text("Ελένη Анна Ōtani") == "Ελένη Анна Ōtani"
    assert pdf_text("步行 🚶") == "?? ?"
    assert pdf_text("tab\there\u200bzero") == "tab    herezero"


def test_format_value() -> None:
    assert [format_value(v) for v in (7.0, 4.5, 0.13, 33.333333, None)] == [
        "7",
        "4.5",
        "0.13",
        "33.33",
        "–",
    ]


def test_value_ranges() -> None:
    assert value_range("nprs", [3, 7]) == (0, 10)
    assert value_range("odi", [12]) == (0, 100)
    assert value_range("nprs", [12]) != (0, 10)  # widened for a value outside the scale
    lo, hi = value_range("rom", [90, 120, 85])
    assert lo < 85
    assert hi > 120
    assert value_range("custom", []) == (0.0, 10.0)
    lo, hi = value_range("custom", [5])
    assert lo < 5 < hi
    assert nice_step(10, 5) == 2
    assert nice_step(40, 5) == 10
    assert nice_step(0, 5) == 1.0


def _goal(**values: float | None) -> GoalProgress:
    return GoalProgress(
        id=uuid.uuid4(),
        description="G",
        measure="nprs",
        unit=None,
        baseline_value=values.get("baseline", 7),
        target_value=values.get("target", 2),
        latest_value=None,
        latest_at=None,
        progress_percent=None,
        minimal_important_change=None,
        clinically_important=None,
        lasting_change=None,
        immediate_change=None,
        status="active",
    )


def test_chart_geometry() -> None:
    points = [
        MeasurePoint(at=T0, value=7, timing="pre"),
        MeasurePoint(at=T0, value=6, timing="post"),
        MeasurePoint(at=T0 + dt.timedelta(days=7), value=4, timing="post"),
    ]
    chart = goal_chart(_goal(), points, width=640, height=240)
    plot = chart.plot
    pre, post = chart.series
    assert (pre.timing, post.timing) == ("pre", "post")
    # oldest at the left edge, newest at the right; values on the 0–10 scale, 0 at the bottom
    assert post.dots[0].x == plot.left
    assert post.dots[-1].x == plot.right
    assert post.dots[-1].y == pytest.approx(plot.bottom - 0.4 * plot.height)
    assert chart.target is not None
    assert chart.baseline is not None
    assert chart.target.y == pytest.approx(plot.bottom - 0.2 * plot.height)
    assert chart.baseline.y == pytest.approx(plot.bottom - 0.7 * plot.height)
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8", "10"]
    assert [t.label for t in chart.x_ticks] == ["2030-03-04", "2030-03-11"]
    assert not chart.empty


def test_chart_of_one_point_and_of_none() -> None:
    single = goal_chart(_goal(), [MeasurePoint(at=T0, value=5, timing="pre")])
    (series,) = single.series
    assert series.dots[0].x == pytest.approx(single.plot.left + single.plot.width / 2)
    empty = goal_chart(_goal(baseline=None), [])
    assert empty.empty
    assert empty.baseline is None
    assert empty.target is not None


def test_close_baseline_and_target_labels_do_not_overlap() -> None:
    chart = goal_chart(_goal(baseline=5, target=5.1), [], height=240)
    assert chart.target is not None
    assert chart.baseline is not None
    assert abs(chart.target.label_y - chart.baseline.label_y) >= 240 * 0.06 - 1e-9
    assert chart.target.label_y < chart.baseline.label_y  # the higher value's label above


def test_many_dates_get_a_few_labels() -> None:
    points = [
        MeasurePoint(at=T0 + dt.timedelta(days=7 * i), value=5, timing="pre") for i in range(20)
    ]
    chart = goal_chart(_goal(), points)
    labels = [t.label for t in chart.x_ticks]
    assert len(labels) == 6
    assert labels[0] == "2030-03-04"
    assert labels[-1] == (T0 + dt.timedelta(days=133)).date().isoformat()
