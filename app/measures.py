"""The outcome measures the clinic records, as one table of clinical knowledge: each measure's
valid range, unit, label, LOINC code, which way is better and its minimal important change.

Pure data and pure functions, no I/O: goals and session measurements check values against it,
summaries and reports label, chart and judge progress with it, and FHIR codes from it, so the
API, the reports and FHIR say the same thing about a measure.

Minimal important changes (MCID) are the usual published figures for low back pain and
musculoskeletal care: NPRS 2 points (Childs et al. 2005), ODI 10 points (Ostelo et al. 2008),
RMDQ 5 points (Ostelo et al. 2008), PSFS 2 points (Stratford et al. 1995). Range of motion and
custom measures have none of their own: a goal may set its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

# which way a measure improves
Direction = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class MeasureInfo:
    code: str  # the API's name for the measure
    label: str  # for people: "Numeric Pain Rating Scale"
    fhir_text: str  # FHIR CodeableConcept.text when LOINC has no code
    range: tuple[float, float] | None  # both ends valid; None: any finite value
    fixed_scale: bool  # charts span the whole range (a score), not just the data (degrees)
    unit: str | None  # the unit a goal of this measure has unless it names its own
    ucum: str | None  # UCUM code of that unit
    loinc: tuple[str, str] | None  # (code, display)
    observation_category: str | None
    direction: Direction | None  # None: the goal's baseline and target decide
    mcid: float | None  # minimal important change, in `unit`


MEASURES: dict[str, MeasureInfo] = {
    m.code: m
    for m in (
        MeasureInfo(
            code="nprs",
            label="Numeric Pain Rating Scale",
            fhir_text="Numeric pain rating scale (0-10)",
            range=(0, 10),
            fixed_scale=True,
            unit="points",
            ucum="{score}",
            loinc=("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
            observation_category="survey",
            direction="lower",
            mcid=2,
        ),
        MeasureInfo(
            code="odi",
            label="Oswestry Disability Index",
            fhir_text="Oswestry disability index",
            range=(0, 100),
            fixed_scale=True,
            unit="%",
            ucum="%",
            loinc=("97909-6", "Oswestry disability index score ODI"),
            observation_category="survey",
            direction="lower",
            mcid=10,
        ),
        MeasureInfo(
            code="rmdq",
            label="Roland-Morris Disability Questionnaire",
            fhir_text="Roland-Morris disability questionnaire (0-24)",
            range=(0, 24),
            fixed_scale=True,
            unit="points",
            ucum="{score}",
            loinc=None,
            observation_category="survey",
            direction="lower",
            mcid=5,
        ),
        MeasureInfo(
            code="psfs",
            label="Patient-Specific Functional Scale",
            fhir_text="Patient-specific functional scale (0-10)",
            range=(0, 10),
            fixed_scale=True,
            unit="points",
            ucum="{score}",
            loinc=None,
            observation_category="survey",
            direction="higher",
            mcid=2,
        ),
        MeasureInfo(
            code="rom",
            label="Range of motion",
            fhir_text="Range of motion",
            range=(0, 360),
            fixed_scale=False,
            unit="degrees",
            ucum="deg",
            loinc=None,
            observation_category="exam",
            direction="higher",
            mcid=None,
        ),
        MeasureInfo(
            code="custom",
            label="Custom measure",
            fhir_text="Custom measure",
            range=None,
            fixed_scale=False,
            unit=None,
            ucum=None,
            loinc=None,
            observation_category=None,
            direction=None,
            mcid=None,
        ),
    )
}


def measure_info(code: str) -> MeasureInfo:
    """The row of a measure; KeyError for a name that is none."""
    return MEASURES[code]


def check_value(measure: str, value: float) -> str | None:
    """Why `value` is not a valid value of `measure`, or None when it is."""
    if measure not in MEASURES:
        return f"{measure!r} is not a measure; use one of {', '.join(MEASURES)}"
    if not math.isfinite(value):
        return "the value must be a finite number"
    bounds = MEASURES[measure].range
    if bounds is None:
        return None
    low, high = bounds
    if not low <= value <= high:
        return f"{value:g} is outside the {measure} range {low:g}–{high:g}"
    return None


def goal_unit(measure: str, unit: str | None) -> str | None:
    """The unit of a goal or measurement: its own when it names one, else its measure's."""
    if unit:
        return unit
    info = MEASURES.get(measure)
    return info.unit if info else None


def range_text(measure: str) -> str | None:
    """`0–10`, or None for a measure without a fixed scale."""
    info = MEASURES.get(measure)
    if info is None or info.range is None or not info.fixed_scale:
        return None
    low, high = info.range
    return f"{low:g}–{high:g}"


def minimal_important_change(measure: str, goal_mcid: float | None) -> float | None:
    """The goal's own MCID when it sets one, else its measure's (None for rom and custom)."""
    if goal_mcid is not None:
        return goal_mcid
    info = MEASURES.get(measure)
    return info.mcid if info else None


def goal_direction(measure: str, baseline: float | None, target: float | None) -> Direction | None:
    """Which way the goal improves: towards its target when baseline and target differ, else
    the measure's own direction (None for a custom measure without a target)."""
    if baseline is not None and target is not None and target != baseline:
        return "lower" if target < baseline else "higher"
    info = MEASURES.get(measure)
    return info.direction if info else None


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def difference(later: float, earlier: float) -> float:
    """`later − earlier` on the values as entered (7.3 − 4.1 = 3.2, not 3.1999999999999997)."""
    result = float(_decimal(later) - _decimal(earlier))
    return result if result != 0 else 0.0


def reaches_mcid(change: float, mcid: float, direction: Direction) -> bool:
    """Whether a change (later − earlier) is an improvement of at least `mcid`."""
    gain = _decimal(change) if direction == "higher" else -_decimal(change)
    return gain >= _decimal(mcid)
