"""The chart of a goal's measure over time, as plain geometry: the HTML report draws it as SVG,
the PDF report with lines on the page. Coordinates grow rightwards and downwards, as in both."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from app import measures
from app.summaries.schemas import GoalProgress, MeasurePoint

# the fixed scale of the scored measures; the others scale to their data
SCALES: dict[str, tuple[float, float]] = {
    code: info.range
    for code, info in measures.MEASURES.items()
    if info.fixed_scale and info.range is not None
}
MAX_DATE_LABELS = 6


@dataclass(frozen=True, slots=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Tick:
    at: float  # x for a date, y for a value
    label: str


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    value: float
    when: dt.datetime


@dataclass(frozen=True, slots=True)
class Series:
    timing: str  # "pre" or "post"
    label: str
    dots: tuple[Dot, ...]

    @property
    def polyline(self) -> str:
        """The SVG `points` attribute of the line through the dots."""
        return " ".join(f"{d.x:.1f},{d.y:.1f}" for d in self.dots)


@dataclass(frozen=True, slots=True)
class Level:
    """A horizontal line across the plot: the goal's baseline or target."""

    y: float
    value: float
    label: str
    label_y: float  # where its label sits: moved off the other level's label when close


@dataclass(frozen=True, slots=True)
class Band:
    """The minimal important change from the baseline, in the goal's direction: a value past
    its far edge (`edge_y`) has changed by a clinically important amount."""

    top: float
    bottom: float
    edge_y: float
    edge_value: float
    label: str

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    plot: Box
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    series: tuple[Series, ...]
    baseline: Level | None
    target: Level | None
    band: Band | None = None

    @property
    def empty(self) -> bool:
        return not any(s.dots for s in self.series)


def format_value(value: float | None) -> str:
    """A measured value as a person writes it: 7, 4.5, 33.25."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `count` intervals."""
    raw = span / max(count, 1)
    if not raw > 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def value_range(measure: str, values: Sequence[float]) -> tuple[float, float]:
    """The values the axis spans: a standard measure's scale (widened if a value lies outside
    it), otherwise the data padded to round numbers."""
    lo, hi = SCALES.get(measure, (math.inf, -math.inf))
    if values:
        lo, hi = min(lo, *values), max(hi, *values)
    if not math.isfinite(lo) or not math.isfinite(hi):
        return 0.0, 10.0
    if measure in SCALES and (lo, hi) == SCALES[measure]:
        return float(lo), float(hi)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    margin = (hi - lo) * 0.05  # no point right on the frame
    step = nice_step(hi - lo + 2 * margin, 5)
    return math.floor((lo - margin) / step) * step, math.ceil((hi + margin) / step) * step


def _date_ticks(days: list[dt.date], x_of: dict[dt.date, float]) -> tuple[Tick, ...]:
    if len(days) <= MAX_DATE_LABELS:
        chosen = days
    else:  # the first, the last and evenly spaced ones between
        last = len(days) - 1
        chosen = sorted(
            {days[round(i * last / (MAX_DATE_LABELS - 1))] for i in range(MAX_DATE_LABELS)}
        )
    return tuple(Tick(x_of[d], d.isoformat()) for d in chosen)


def goal_chart(
    goal: GoalProgress,
    points: Sequence[MeasurePoint],
    *,
    width: float = 640,
    height: float = 240,
) -> Chart:
    """The chart of the goal's own measurements (those recorded against it) over time, with its
    target as a dashed line and its baseline as a dotted one."""
    plot = Box(left=width * 0.08, top=height * 0.08, right=width * 0.8, bottom=height * 0.84)
    edge = mcid_edge(goal)
    levels = [v for v in (goal.baseline_value, goal.target_value, edge) if v is not None]
    lo, hi = value_range(goal.measure, [p.value for p in points] + levels)

    def y_of(value: float) -> float:
        return plot.bottom - (value - lo) / (hi - lo) * plot.height

    step = nice_step(hi - lo, 5)
    y_ticks = tuple(
        Tick(y_of(lo + i * step), format_value(round(lo + i * step, 6)))
        for i in range(int(round((hi - lo) / step)) + 1)
    )

    times = sorted({p.at for p in points})
    first, last = (times[0], times[-1]) if times else (None, None)

    def x_of(at: dt.datetime) -> float:
        if first is None or last is None or first == last:
            return plot.left + plot.width / 2
        return plot.left + (at - first) / (last - first) * plot.width

    days: dict[dt.date, float] = {}
    for at in times:  # a day's label sits at its first session
        days.setdefault(at.astimezone(dt.UTC).date(), x_of(at))
    x_ticks = _date_ticks(sorted(days), days)

    series = tuple(
        Series(
            timing=timing,
            label=label,
            dots=tuple(
                Dot(x_of(p.at), y_of(p.value), p.value, p.at) for p in points if p.timing == timing
            ),
        )
        for timing, label in (("pre", "before session"), ("post", "after session"))
    )

    baseline_y = None if goal.baseline_value is None else y_of(goal.baseline_value)
    target_y = None if goal.target_value is None else y_of(goal.target_value)
    gap = height * 0.06  # the least distance between the two labels
    baseline_label_y, target_label_y = baseline_y, target_y
    if baseline_y is not None and target_y is not None and abs(baseline_y - target_y) < gap:
        middle = (baseline_y + target_y) / 2
        # the target's label goes on the side the target lies, or above when they are equal
        above = target_y <= baseline_y
        target_label_y = middle - gap / 2 if above else middle + gap / 2
        baseline_label_y = middle + gap / 2 if above else middle - gap / 2

    def level(
        value: float | None, y: float | None, label_y: float | None, name: str
    ) -> Level | None:
        if value is None or y is None or label_y is None:
            return None
        return Level(y, value, f"{name} {format_value(value)}", label_y)

    band = None
    if edge is not None and baseline_y is not None and goal.minimal_important_change is not None:
        edge_y = y_of(edge)
        unit = f" {goal.unit}" if goal.unit else ""
        band = Band(
            top=min(edge_y, baseline_y),
            bottom=max(edge_y, baseline_y),
            edge_y=edge_y,
            edge_value=edge,
            label=f"MCID {format_value(goal.minimal_important_change)}{unit}",
        )

    return Chart(
        width=width,
        height=height,
        plot=plot,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        series=tuple(s for s in series if s.dots),
        baseline=level(goal.baseline_value, baseline_y, baseline_label_y, "baseline"),
        target=level(goal.target_value, target_y, target_label_y, "target"),
        band=band,
    )


def mcid_edge(goal: GoalProgress) -> float | None:
    """The value one minimal important change from the baseline in the goal's direction,
    kept within the measure's range; None without a baseline, an MCID or a direction."""
    mcid = goal.minimal_important_change
    direction = measures.goal_direction(goal.measure, goal.baseline_value, goal.target_value)
    if goal.baseline_value is None or mcid is None or direction is None:
        return None
    edge = goal.baseline_value - mcid if direction == "lower" else goal.baseline_value + mcid
    bounds = (
        measures.measure_info(goal.measure).range if goal.measure in measures.MEASURES else None
    )
    if bounds is not None:
        edge = min(max(edge, bounds[0]), bounds[1])
    return edge
