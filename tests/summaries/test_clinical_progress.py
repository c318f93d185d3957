"""The measures table and the clinical reading of progress, on cases computed by hand: the
minimal important change, whether a change reaches it, what lasted between visits and what each
visit itself did."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app import measures
from app.core.statements import Row
from app.summaries.charts import goal_chart
from app.summaries.report import (
    format_change,
    importance_sentences,
    measure_label,
    period_text,
)
from app.summaries.schemas import GoalProgress, Period
from app.summaries.service import (
    CompletedSession,
    MeasuredValue,
    StatusCount,
    clinically_important,
    immediate_change,
    lasting_change,
    summarize_care_plan,
)
from tests.summaries.rows import client_row, plan_row

T0 = dt.datetime(2030, 3, 4, 9, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)


def test_the_measures_table() -> None:
    expected = {
        # code: (range, unit, LOINC, direction, MCID)
        "nprs": ((0, 10), "points", "72514-3", "lower", 2),
        "odi": ((0, 100), "%", "97909-6", "lower", 10),
        "rmdq": ((0, 24), "points", None, "lower", 5),
        "psfs": ((0, 10), "points", None, "higher", 2),
        "rom": ((0, 360), "degrees", None, "higher", None),
        "custom": (None, None, None, None, None),
    }
    assert set(measures.MEASURES) == set(expected)
    for code, (bounds, unit, loinc, direction, mcid) in expected.items():
        info = measures.measure_info(code)
        assert info.range == bounds, code
        assert info.unit == unit, code
        assert (info.loinc[0] if info.loinc else None) == loinc, code
        assert info.direction == direction, code
        assert info.mcid == mcid, code


@pytest.mark.parametrize(
    ("measure", "value", "valid"),
    [
        ("nprs", 0, True),
        ("nprs", 10, True),
        ("nprs", -0.1, False),
        ("nprs", 10.1, False),
        ("odi", 100, True),
        ("odi", 100.5, False),
        ("rmdq", 24, True),
        ("rmdq", 25, False),
        ("rom", 360, True),
        ("rom", 361, False),
        ("custom", -5000, True),
        ("custom", float("nan"), False),
        ("vas", 3, False),
    ],
)
def test_values_are_checked_against_the_table(measure: str, value: float, valid: bool) -> None:
    assert (measures.check_value(measure, value) is None) is valid


def test_a_goal_has_its_own_unit_or_its_measures() -> None:
    assert measures.goal_unit("nprs", None) == "points"
    assert measures.goal_unit("odi", None) == "%"
    assert measures.goal_unit("rom", None) == "degrees"
    assert measures.goal_unit("custom", None) is None
    assert measures.goal_unit("custom", "km") == "km"
    assert measures.goal_unit("rom", "°") == "°"


def test_minimal_important_change() -> None:
    assert measures.minimal_important_change("nprs", None) == 2
    assert measures.minimal_important_change("odi", None) == 10
    assert measures.minimal_important_change("rmdq", None) == 5
    assert measures.minimal_important_change("psfs", None) == 2
    assert measures.minimal_important_change("rom", None) is None
    assert measures.minimal_important_change("custom", None) is None
    assert measures.minimal_important_change("rom", 10) == 10
    assert measures.minimal_important_change("custom", 0.5) == 0.5


@pytest.mark.parametrize(
    ("measure", "baseline", "target", "latest", "mcid", "expected"),
    [
        # NPRS, lower is better: 7 → 5 is −2, exactly the MCID; 7 → 5.1 falls short
        ("nprs", 7, 2, 5, 2, True),
        ("nprs", 7, 2, 5.1, 2, False),
        # a goal that gets worse: 4 → 7 is +3, the wrong way
        ("nprs", 4, 1, 7, 2, False),
        # PSFS, higher is better: 3 → 5 is +2, the MCID; 3 → 1 is the wrong way
        ("psfs", 3, 8, 5, 2, True),
        ("psfs", 3, 8, 1, 2, False),
        # range of motion with a target below baseline (reduce a hypermobile range): 150 →
        # 138 is −12, past the goal's MCID of 10 towards its target
        ("rom", 150, 130, 138, 10, True),
        ("rom", 150, 130, 162, 10, False),
        # range of motion without an MCID of its own: nothing to judge by
        ("rom", 90, 120, 130, None, None),
        # no baseline or no latest value: nothing to judge
        ("nprs", None, 2, 5, 2, None),
        ("nprs", 7, 2, None, 2, None),
        # ODI, target equal to baseline: the measure's own direction (lower); 20 → 9 is −11
        ("odi", 20, 20, 9, 10, True),
        # decimals as entered: 6.3 → 4.3 is exactly −2
        ("nprs", 6.3, 2, 4.3, 2, True),
        # a custom measure: the direction is the target's
        ("custom", 0, 4, 0.6, 0.5, True),
        ("custom", 0, None, 0.6, 0.5, None),
    ],
)
def test_clinically_important(
    measure: str,
    baseline: float | None,
    target: float | None,
    latest: float | None,
    mcid: float | None,
    expected: bool | None,
) -> None:
    assert clinically_important(measure, baseline, target, latest, mcid) is expected


def values(*rows: tuple[int, str, float]) -> list[MeasuredValue]:
    """(session number, timing, value): sessions a week apart, in one plan, of one goal."""
    sessions = {n: uuid.UUID(int=n + 1) for n, _, _ in rows}
    return [
        MeasuredValue(sessions[n], PLAN_ID, T0 + n * WEEK, GOAL_ID, "nprs", value, timing, i)
        for i, (n, timing, value) in enumerate(rows)
    ]


PLAN_ID = uuid.UUID(int=100)
GOAL_ID = uuid.UUID(int=200)


def test_no_pre_values() -> None:
    rows = values((0, "post", 5), (1, "post", 4))
    assert lasting_change(rows) is None
    assert immediate_change(rows) is None


def test_one_session() -> None:
    rows = values((0, "pre", 7), (0, "post", 4))
    assert lasting_change(rows) is None  # one visit: nothing held between visits yet
    assert immediate_change(rows) == -3


def test_lasting_and_immediate_over_three_sessions() -> None:
    # pre 7, 6, 4 → lasting 4 − 7 = −3; post − pre: −2, −3, −0.5 → mean −5.5 / 3 = −1.83
    rows = values(
        (0, "pre", 7),
        (0, "post", 5),
        (1, "post", 3),  # recorded first, still after the pre of its session
        (1, "pre", 6),
        (2, "pre", 4),
        (2, "post", 3.5),
    )
    assert lasting_change(rows) == -3
    assert immediate_change(rows) == -1.83


def test_a_goal_that_gets_worse() -> None:
    # pre 3 then 6: lasting +3; each visit still brings relief (−1, −2): immediate −1.5
    rows = values((0, "pre", 3), (0, "post", 2), (1, "pre", 6), (1, "post", 4))
    assert lasting_change(rows) == 3
    assert immediate_change(rows) == -1.5


def test_sessions_with_only_a_pre_value_count_for_lasting_only() -> None:
    rows = values((0, "pre", 8), (1, "pre", 7.2), (2, "pre", 5), (2, "post", 5))
    assert lasting_change(rows) == -3
    assert immediate_change(rows) == 0.0


def test_a_visit_that_raised_the_value_by_one() -> None:
    # pain 3 before the visit, 4 after: the visit made it one point worse
    assert immediate_change(values((0, "pre", 3), (0, "post", 4))) == 1


def test_immediate_change_rounds_halves_away_from_zero() -> None:
    # post − pre: −1 and −0.25, mean −0.625 → −0.63 (not the banker's −0.62)
    rows = values((0, "pre", 6), (0, "post", 5), (1, "pre", 5), (1, "post", 4.75))
    assert immediate_change(rows) == -0.63


def test_a_change_that_rounds_to_nothing_reads_zero_not_minus_zero() -> None:
    # −0.004 rounds to zero at two decimals: shown as 0.0, never as "-0.0"
    assert str(immediate_change(values((0, "pre", 5), (0, "post", 4.996)))) == "0.0"
    assert str(measures.difference(-0.0, 0.0)) == "0.0"


@pytest.mark.parametrize(
    ("later", "earlier", "expected"),
    [
        (7.3, 4.1, 3.2),  # as entered, not 3.1999999999999997
        (5, 4, 1.0),
        (4, 5, -1.0),
        (3, 3, 0.0),
        (0.3, 0.1, 0.2),
    ],
)
def test_difference_of_values_as_entered(later: float, earlier: float, expected: float) -> None:
    assert measures.difference(later, earlier) == expected


def test_a_measure_missing_from_the_table_has_no_scale_mcid_or_direction() -> None:
    # e.g. a measure stored before it left the table: summaries still render, with nothing
    # to judge it by
    assert measures.range_text("vas") is None
    assert measures.minimal_important_change("vas", None) is None
    assert measures.goal_direction("vas", 3, 3) is None
    assert measures.goal_unit("vas", None) is None


def test_ranges_are_printed_only_for_fixed_scales() -> None:
    assert measures.range_text("nprs") == "0–10"
    assert measures.range_text("odi") == "0–100"
    assert measures.range_text("rom") is None  # degrees: no fixed scale
    assert measures.range_text("custom") is None


def goal_row(measure: str, baseline: float | None, target: float | None, **more: object) -> Row:
    """A goal as `service.GOALS` reads it."""
    return {
        "id": GOAL_ID,
        "care_plan_id": PLAN_ID,
        "description": "G",
        "measure": measure,
        "unit": None,
        "baseline_value": baseline,
        "target_value": target,
        "mcid": None,
        "status": "active",
        **more,
    }


def summarize(goal: Row, rows: list[MeasuredValue]) -> GoalProgress:
    plan = plan_row(PLAN_ID, title="P", kind="rehabilitation")
    client = client_row(plan["client_id"])
    sessions = [
        CompletedSession(m.session_id, PLAN_ID, m.at, [], None, None, None)
        for m in {m.session_id: m for m in rows}.values()
    ]
    progress = summarize_care_plan(
        plan,
        client,
        [goal],
        [StatusCount(PLAN_ID, "completed", len(sessions), 0)],
        sessions,
        rows,
        T0,
    )
    (result,) = progress.summary.goals
    return result


def test_target_below_baseline_in_a_summary() -> None:
    # NPRS 7 → target 2; pre 7, 5, post 6, 3: latest 3, change −4 ≥ 2
    rows = values((0, "pre", 7), (0, "post", 6), (1, "pre", 5), (1, "post", 3))
    g = summarize(goal_row("nprs", 7, 2), rows)
    assert g.unit == "points"
    assert (g.minimal_important_change, g.clinically_important) == (2, True)
    assert (g.lasting_change, g.immediate_change) == (-2, -1.5)
    assert g.progress_percent == 80.0


def rom_values(*rows: tuple[int, str, float]) -> list[MeasuredValue]:
    return [
        MeasuredValue(m.session_id, m.care_plan_id, m.at, m.goal_id, "rom", m.value, m.timing, 0)
        for m in values(*rows)
    ]


def test_rom_with_and_without_its_own_mcid() -> None:
    rows = rom_values((0, "pre", 90), (0, "post", 96), (1, "pre", 95), (1, "post", 101))
    # without a goal mcid: the change is computed, its importance is not
    plain = summarize(goal_row("rom", 90, 120), rows)
    assert (plain.minimal_important_change, plain.clinically_important) == (None, None)
    assert (plain.lasting_change, plain.immediate_change) == (5, 6)
    assert plain.unit == "degrees"
    # with mcid 10: 90 → 101 is +11, important; with mcid 12 it is not
    assert summarize(goal_row("rom", 90, 120, mcid=10), rows).clinically_important is True
    twelve = summarize(goal_row("rom", 90, 120, mcid=12), rows)
    assert (twelve.minimal_important_change, twelve.clinically_important) == (12, False)


def test_a_goal_against_its_measures_direction_is_judged_towards_its_target() -> None:
    # range of motion usually improves upwards; this goal reduces a hypermobile range 150 → 130,
    # so 150 → 138 (−12) is an improvement past its MCID of 10
    rows = rom_values((0, "pre", 150), (0, "post", 138))
    g = summarize(goal_row("rom", 150, 130, mcid=10), rows)
    assert g.clinically_important is True


def progress(**values: object) -> GoalProgress:
    data: dict[str, object] = {
        "id": uuid.uuid4(),
        "description": "Pain below 3/10",
        "measure": "nprs",
        "unit": "points",
        "baseline_value": 7,
        "target_value": 2,
        "latest_value": 4,
        "latest_at": T0,
        "progress_percent": 60.0,
        "minimal_important_change": 2,
        "clinically_important": True,
        "lasting_change": -2,
        "immediate_change": -1,
        "status": "active",
    }
    data.update(values)
    return GoalProgress.model_validate(data)


def test_the_mcid_band_on_the_chart() -> None:
    # NPRS 7 → 2 on 0–10: the band runs from the baseline 7 down to 5
    chart = goal_chart(progress(), [], width=100, height=100)
    assert chart.band is not None
    assert chart.baseline is not None
    assert chart.band.edge_value == 5
    # y grows downwards: the baseline (7) is the band's top, 5 its bottom edge
    assert chart.band.top == pytest.approx(chart.baseline.y)
    plot = chart.plot
    assert chart.band.bottom == pytest.approx(plot.bottom - 0.5 * plot.height)
    assert chart.band.edge_y == chart.band.bottom
    assert chart.band.label == "MCID 2 points"
    # PSFS upwards, kept within the scale: 9 + 2 stops at 10
    psfs = goal_chart(
        progress(measure="psfs", baseline_value=9, target_value=10), [], width=100, height=100
    )
    assert psfs.band is not None
    assert psfs.band.edge_value == 10
    # no band without an MCID or a baseline
    assert goal_chart(progress(minimal_important_change=None), []).band is None
    assert goal_chart(progress(baseline_value=None), []).band is None


def test_measure_labels_name_scale_and_unit_once() -> None:
    assert measure_label(progress(measure="odi", unit="%")) == "Oswestry Disability Index (0–100 %)"
    assert measure_label(progress()) == "Numeric Pain Rating Scale (0–10 points)"
    assert measure_label(progress(measure="rom", unit="degrees")) == "Range of motion (degrees)"
    assert measure_label(progress(measure="custom", unit=None)) == "Custom measure"


def test_changes_read_with_sign_and_unit() -> None:
    assert format_change(-3, "points") == "−3 points"
    assert format_change(2.5, "%") == "+2.5 %"
    assert format_change(0, "degrees") == "0 degrees"
    assert format_change(None, "points") == "–"


def test_the_sentence_on_clinically_important_change() -> None:
    pain = progress()
    odi = progress(
        description="ODI below 20",
        measure="odi",
        unit="%",
        baseline_value=38,
        latest_value=30,
        minimal_important_change=10,
        clinically_important=False,
    )
    hip = progress(
        description="Hip", measure="rom", minimal_important_change=None, clinically_important=None
    )
    assert importance_sentences([pain, odi, hip]) == [
        "Changed by a clinically important amount: Pain below 3/10 (−3 points; MCID 2 points).",
        "Not (yet) a clinically important change: ODI below 20 (−8 %; MCID 10 %).",
    ]
    assert importance_sentences([odi]) == [
        "No goal has changed by a clinically important amount yet.",
        "Not (yet) a clinically important change: ODI below 20 (−8 %; MCID 10 %).",
    ]
    assert importance_sentences([hip]) == [
        "No goal can be judged against a minimal important change yet."
    ]


def test_an_empty_period_is_not_printed() -> None:
    def period(start: dt.date | None, end: dt.date | None) -> Period:
        return Period(start=start, end=end)

    assert period_text(period(None, None)) is None
    assert period_text(period(dt.date(2030, 3, 1), None)) == "from 2030-03-01"
    assert period_text(period(None, dt.date(2030, 6, 30))) == "until 2030-06-30"
    assert period_text(period(dt.date(2030, 3, 1), dt.date(2030, 6, 30))) == (
        "period 2030-03-01 to 2030-06-30"
    )
