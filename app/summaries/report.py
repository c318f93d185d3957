"""The printable progress report, as a self-contained HTML page or a PDF, and the choice between
those and JSON by the request's `Accept` header."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app import measures
from app.core.errors import NotAcceptable
from app.summaries.charts import Chart, Level, format_value, goal_chart
from app.summaries.schemas import (
    CarePlanSummary,
    GoalProgress,
    Period,
    SummaryClient,
    SummaryPrecaution,
    SummaryReferral,
    SummaryTherapist,
)
from app.summaries.service import PlanProgress

# ---- content negotiation ---------------------------------------------------------------------


class ReportFormat(StrEnum):
    json = "application/json"
    html = "text/html"
    pdf = "application/pdf"


# in the server's order of preference, for ties
OFFERED = (ReportFormat.json, ReportFormat.html, ReportFormat.pdf)


@dataclass(frozen=True, slots=True)
class MediaRange:
    type: str
    subtype: str
    q: float
    index: int

    def specificity(self, media_type: str) -> int | None:
        """How closely this range names `media_type` (2 exactly, 1 `type/*`, 0 `*/*`), or None
        when it does not cover it."""
        main, sub = media_type.split("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type == main and self.subtype == "*":
            return 1
        if self.type == main and self.subtype == sub:
            return 2
        return None


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an `Accept` header (RFC 9110 §12.5.1); malformed ones are skipped,
    a malformed weight counts as 1."""
    ranges: list[MediaRange] = []
    for index, part in enumerate(header.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        main, slash, sub = media.lower().partition("/")
        if not slash or not main or not sub:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 1.0
        ranges.append(MediaRange(main, sub, q, index))
    return ranges


def negotiate(accept: str | None) -> ReportFormat:
    """The offered format the caller prefers: the highest weight, then the most specific range,
    then the caller's order, then JSON before HTML before PDF. No header, an empty one or
    `*/*` means JSON. Raises 406 when the caller accepts none of them."""
    if accept is None or not accept.strip():
        return ReportFormat.json
    ranges = parse_accept(accept)
    best: tuple[tuple[float, int, int, int], ReportFormat] | None = None
    for rank, offer in enumerate(OFFERED):
        matches = [(r.specificity(offer), r) for r in ranges]
        covering = [(s, r) for s, r in matches if s is not None]
        if not covering:
            continue
        specificity, chosen = max(covering, key=lambda m: (m[0], -m[1].index))
        if chosen.q <= 0:
            continue
        key = (-chosen.q, -specificity, chosen.index, rank)
        if best is None or key < best[0]:
            best = (key, offer)
    if best is None:
        offered = ", ".join(OFFERED)
        raise NotAcceptable(f"This summary is available as {offered}")
    return best[1]


# ---- what every report shows -----------------------------------------------------------------

MINUS = "−"
CONSENT_NOTE = "Confidential: shared with the client's consent, for the care of this client only."
STAFF_NOTE = "Confidential: for the care of this client only."


@dataclass(frozen=True, slots=True)
class ReportHeading:
    """Who the report is from, about and for. `shared_under_consent`: a referrer reads it, under
    the client's consent to share with them (the only way a referrer can)."""

    clinic_name: str
    title: str
    client: SummaryClient
    generated_at: dt.datetime
    referral_id: uuid.UUID | None = None
    prepared_for: str | None = None
    shared_under_consent: bool = False

    @property
    def confidentiality(self) -> str:
        return CONSENT_NOTE if self.shared_under_consent else STAFF_NOTE


@dataclass(frozen=True, slots=True)
class GoalView:
    goal: GoalProgress
    chart: Chart


@dataclass(frozen=True, slots=True)
class PlanView:
    progress: PlanProgress
    goals: list[GoalView]


def plan_views(plans: Sequence[PlanProgress], *, width: float, height: float) -> list[PlanView]:
    return [
        PlanView(
            p,
            [
                GoalView(g, goal_chart(g, p.points_of(g.id), width=width, height=height))
                for g in p.summary.goals
            ],
        )
        for p in plans
    ]


def words(value: str) -> str:
    """An enum value for people: `oncology_support` → `Oncology support`."""
    text = value.replace("_", " ")
    return text[:1].upper() + text[1:]


def format_date(value: dt.date | None) -> str:
    return value.isoformat() if value else "–"


def format_time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %".replace("-", MINUS)


def with_unit(value: float | None, unit: str | None) -> str:
    """`7 points`, `35 %`, `–` for no value."""
    if value is None:
        return "–"
    return f"{format_value(value)} {unit}".replace("-", MINUS) if unit else format_value(value)


def format_change(value: float | None, unit: str | None) -> str:
    """A signed change: `+2 points`, `−3 points`, `0 points`; `–` for none."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else MINUS if value < 0 else ""
    return sign + with_unit(abs(value), unit)


def measure_name(measure: str) -> str:
    info = measures.MEASURES.get(measure)
    return info.label if info else measure


def measure_label(goal: GoalProgress) -> str:
    """The measure's name with its scale and unit: `Oswestry Disability Index (0–100 %)`,
    `Range of motion (degrees)`, `Custom measure (km)`."""
    detail = " ".join(x for x in (measures.range_text(goal.measure), goal.unit) if x)
    name = measure_name(goal.measure)
    return f"{name} ({detail})" if detail else name


def period_text(period: Period) -> str | None:
    """`period 2030-03-01 to 2030-06-30`, `from 2030-03-01`, `until …`; None without dates."""
    start, end = period.start, period.end
    if start and end:
        return f"period {format_date(start)} to {format_date(end)}"
    if start:
        return f"from {format_date(start)}"
    if end:
        return f"until {format_date(end)}"
    return None


def plan_line(summary: CarePlanSummary) -> str:
    parts = [f"{words(summary.kind)} plan", f"status {words(summary.status).lower()}"]
    period = period_text(summary.period)
    if period:
        parts.append(period)
    return " · ".join(parts)


def therapist_text(therapist: SummaryTherapist | None) -> str:
    if therapist is None:
        return "No primary therapist named"
    if therapist.credentials:
        return f"{therapist.full_name}, {', '.join(therapist.credentials)}"
    return therapist.full_name


def referral_sessions(referral: SummaryReferral) -> str:
    if referral.authorized_sessions is None:
        return f"{referral.sessions_used} used (no limit set)"
    return f"{referral.sessions_used} of {referral.authorized_sessions} authorised"


def diagnosis_text(referral: SummaryReferral) -> str:
    parts = [", ".join(referral.diagnosis_codes)] if referral.diagnosis_codes else []
    if referral.diagnosis_text:
        parts.append(referral.diagnosis_text)
    return " – ".join(parts) if parts else "–"


# precaution categories whose plain spelling would misread ("Dvt")
PRECAUTION_NAMES = {"dvt": "DVT (deep vein thrombosis)"}


def precaution_name(category: str) -> str:
    return PRECAUTION_NAMES.get(category, words(category))


def clearance_text(precaution: SummaryPrecaution) -> str:
    if precaution.cleared_on is None and precaution.cleared_by is None:
        return "–"
    by = f" by {precaution.cleared_by.full_name}" if precaution.cleared_by else ""
    on = f" on {format_date(precaution.cleared_on)}" if precaution.cleared_on else ""
    return f"Cleared{by}{on}"


def regions_text(regions: Sequence[str]) -> str:
    return ", ".join(words(r).lower() for r in regions) if regions else "–"


def goal_path(goal: GoalProgress) -> str:
    """`7 → 4 → 2 points`: baseline, latest and target in the goal's unit."""
    values = " → ".join(
        format_value(v) for v in (goal.baseline_value, goal.latest_value, goal.target_value)
    )
    return f"{values} {goal.unit}" if goal.unit else values


def importance_sentences(goals: Sequence[GoalProgress]) -> list[str]:
    """In words, which goals changed by a clinically important amount, and which not yet."""

    def item(g: GoalProgress) -> str:
        change = (
            measures.difference(g.latest_value, g.baseline_value)
            if g.latest_value is not None and g.baseline_value is not None
            else None
        )
        return (
            f"{g.description} ({format_change(change, g.unit)}; "
            f"MCID {with_unit(g.minimal_important_change, g.unit)})"
        )

    important = [g for g in goals if g.clinically_important is True]
    not_yet = [g for g in goals if g.clinically_important is False]
    if not important and not not_yet:
        return ["No goal can be judged against a minimal important change yet."]
    out = []
    if important:
        out.append(
            "Changed by a clinically important amount: " + "; ".join(map(item, important)) + "."
        )
    else:
        out.append("No goal has changed by a clinically important amount yet.")
    if not_yet:
        out.append(
            "Not (yet) a clinically important change: " + "; ".join(map(item, not_yet)) + "."
        )
    return out


def importance_word(goal: GoalProgress) -> str:
    if goal.clinically_important is None:
        return "–"
    return "Yes" if goal.clinically_important else "Not yet"


def full_name(client: SummaryClient) -> str:
    return f"{client.given_name} {client.family_name}"


# ---- HTML ------------------------------------------------------------------------------------

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(
    value=format_value,
    date=format_date,
    time=format_time,
    percent=format_percent,
    words=words,
    measure_label=measure_label,
    change=format_change,
    with_unit=with_unit,
    plan_line=plan_line,
    therapist=therapist_text,
    referral_sessions=referral_sessions,
    diagnosis=diagnosis_text,
    clearance=clearance_text,
    precaution=precaution_name,
    regions=regions_text,
    importance=importance_word,
    goal_path=goal_path,
)

SVG_WIDTH, SVG_HEIGHT = 640, 240


def render_html(heading: ReportHeading, plans: Sequence[PlanProgress]) -> str:
    """A self-contained printable page: inline CSS, inline SVG charts, every text escaped."""
    template = _templates.get_template("summary.html")
    return template.render(
        heading=heading,
        plans=plan_views(plans, width=SVG_WIDTH, height=SVG_HEIGHT),
        client_name=full_name(heading.client),
        importance_sentences=importance_sentences,
    )


# ---- PDF -------------------------------------------------------------------------------------

FONT = "report"
# Source Sans Pro (SIL Open Font License), installed by pip with the `font-source-sans-pro`
# package: Latin with every European accent, Greek, Cyrillic and the arrows and signs the
# report uses, embedded (subset) in each PDF, so names print as the HTML shows them.
FONT_PACKAGE = "font_source_sans_pro"
FONT_FILES = {
    "": "SourceSansPro-Regular.ttf",
    "B": "SourceSansPro-Bold.ttf",
    "I": "SourceSansPro-It.ttf",
}
GREY = (110, 110, 110)
LIGHT = (215, 215, 215)
INK = (30, 30, 30)
HEADING_FILL = (241, 245, 247)
ACCENT = (22, 78, 99)
PRE_COLOUR = (217, 119, 6)
POST_COLOUR = (37, 99, 235)
TARGET_COLOUR = (21, 128, 61)
BAND_FILL = (220, 240, 226)
PDF_CHART_WIDTH, PDF_CHART_HEIGHT = 180.0, 62.0


@cache
def font_paths() -> dict[str, Path]:
    folder = resources.files(FONT_PACKAGE) / "files"
    return {style: Path(str(folder / name)) for style, name in FONT_FILES.items()}


@cache
def font_characters() -> frozenset[int]:
    """The code points the embedded font has a glyph for."""
    return frozenset(TTFont(str(font_paths()[""]), lazy=True).getBestCmap())


def pdf_text(text: str) -> str:
    """Text as the embedded font prints it: control and format characters dropped, tabs as
    spaces, a character the font has no glyph for (a CJK ideograph, an emoji) as `?` rather
    than silently left out."""
    have = font_characters()
    out: list[str] = []
    for char in text.replace("\t", "    "):
        if char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf"):
            continue
        else:
            out.append(char if ord(char) in have else "?")
    return "".join(out)


class _SummaryPdf(FPDF):
    def __init__(self, heading: ReportHeading) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.heading = heading
        for style, path in font_paths().items():
            self.add_font(FONT, style, str(path))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(pdf_text(f"{heading.title}: {full_name(heading.client)}"))
        self.set_author(pdf_text(heading.clinic_name))
        self.set_creator(pdf_text(heading.clinic_name))
        self.set_creation_date(heading.generated_at)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, size=8)
        self.set_text_color(*GREY)
        note = (
            f"{self.heading.clinic_name} · {full_name(self.heading.client)} · "
            f"{self.heading.confidentiality}"
        )
        self.cell(150, 5, pdf_text(note), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    # -- text blocks --

    def write_line(self, text: str, *, size: float = 10, style: str = "", h: float = 5.5) -> None:
        self.set_font(FONT, style=style, size=size)
        self.multi_cell(0, h, pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")

    def section(self, title: str) -> None:
        if self.will_page_break(22):
            self.add_page()
        self.ln(3)
        self.set_text_color(*ACCENT)
        self.write_line(title, size=12, style="B", h=7)
        self.set_text_color(*INK)

    def table_of(self, rows: Sequence[Sequence[str]], widths: Sequence[float]) -> None:
        """A table whose first row is its headings."""
        self.set_font(FONT, size=9)
        self.set_draw_color(*LIGHT)
        self.set_fill_color(255, 255, 255)
        self.set_text_color(*INK)
        with self.table(
            col_widths=tuple(widths),
            text_align="LEFT",
            line_height=5,
            padding=1.2,
            width=sum(widths),
            align="LEFT",
            headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        ) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(pdf_text(value))
        self.ln(2)

    # -- the chart --

    def chart(self, chart: Chart) -> None:
        if self.will_page_break(chart.height + 12):
            self.add_page()
        x0, y0 = self.l_margin, self.get_y()
        box = chart.plot

        def at(x: float, y: float) -> tuple[float, float]:
            return x0 + x, y0 + y

        if chart.band is not None:
            self.set_fill_color(*BAND_FILL)
            self.rect(*at(box.left, chart.band.top), box.width, chart.band.height, style="F")
            self.set_fill_color(255, 255, 255)
        self.set_line_width(0.2)
        self.set_font(FONT, size=7)
        self.set_text_color(*GREY)
        for tick in chart.y_ticks:
            self.set_draw_color(*LIGHT)
            self.line(*at(box.left, tick.at), *at(box.right, tick.at))
            self.set_xy(x0, y0 + tick.at - 2)
            self.cell(box.left - 1.5, 4, tick.label, align="R")
        for tick in chart.x_ticks:
            self.set_xy(x0 + tick.at - 12, y0 + box.bottom + 1)
            self.cell(24, 4, tick.label, align="C")
        self.set_draw_color(*GREY)
        self.rect(*at(box.left, box.top), box.width, box.height)

        self._level(chart.baseline, at, box.left, box.right, GREY, (0.6, 0.9))
        self._level(chart.target, at, box.left, box.right, TARGET_COLOUR, (2.4, 1.4))
        self.set_dash_pattern()

        for series in chart.series:
            colour = POST_COLOUR if series.timing == "post" else PRE_COLOUR
            self.set_draw_color(*colour)
            self.set_fill_color(*colour)
            self.set_line_width(0.5)
            points = [at(d.x, d.y) for d in series.dots]
            if len(points) > 1:
                self.polyline(points)
            for x, y in points:
                self.circle(x, y, 0.9, style="FD")
        self.set_line_width(0.2)
        self.set_fill_color(255, 255, 255)

        if chart.empty:
            self.set_font(FONT, style="I", size=8)
            self.set_xy(*at(box.left, box.top + box.height / 2 - 2))
            self.cell(box.width, 4, "No measurements from signed notes yet", align="C")

        legend_y = y0 + box.bottom + 6.5
        self._legend(x0 + box.left, legend_y, chart)
        self.set_text_color(*INK)
        self.set_xy(self.l_margin, legend_y + 5)

    def _level(
        self,
        level: Level | None,
        at: Callable[[float, float], tuple[float, float]],
        left: float,
        right: float,
        colour: tuple[int, int, int],
        dash: tuple[float, float],
    ) -> None:
        if level is None:
            return
        self.set_draw_color(*colour)
        self.set_dash_pattern(dash=dash[0], gap=dash[1])
        self.set_line_width(0.4)
        self.line(*at(left, level.y), *at(right, level.y))
        self.set_dash_pattern()
        self.set_text_color(*colour)
        self.set_font(FONT, size=7)
        x, y = at(right + 1.5, level.label_y)
        self.set_xy(x, y - 2)
        self.cell(30, 4, pdf_text(level.label))

    def _legend(self, x: float, y: float, chart: Chart) -> None:
        self.set_font(FONT, size=7)
        entries: list[tuple[str, tuple[int, int, int], tuple[float, float] | None, bool]] = [
            (s.label, POST_COLOUR if s.timing == "post" else PRE_COLOUR, None, False)
            for s in chart.series
        ]
        if chart.target:
            entries.append(("target", TARGET_COLOUR, (2.4, 1.4), False))
        if chart.baseline:
            entries.append(("baseline", GREY, (0.6, 0.9), False))
        if chart.band:
            entries.append((f"{chart.band.label} from baseline", BAND_FILL, None, True))
        for label, colour, dash, block in entries:
            if block:
                self.set_fill_color(*colour)
                self.rect(x, y - 1.5, 7, 3, style="F")
                self.set_fill_color(255, 255, 255)
            else:
                self.set_draw_color(*colour)
                self.set_line_width(0.5)
                if dash:
                    self.set_dash_pattern(dash=dash[0], gap=dash[1])
                self.line(x, y, x + 7, y)
                self.set_dash_pattern()
            self.set_text_color(*GREY)
            self.set_xy(x + 8, y - 2)
            self.cell(self.get_string_width(label) + 1, 4, pdf_text(label))
            x += 8 + self.get_string_width(label) + 6
        self.set_line_width(0.2)


def render_pdf(heading: ReportHeading, plans: Sequence[PlanProgress]) -> bytes:
    """The HTML report's content as an A4 PDF with an embedded Unicode font; charts drawn as
    vectors."""
    pdf = _SummaryPdf(heading)
    pdf.add_page()
    pdf.set_text_color(*ACCENT)
    pdf.write_line(heading.clinic_name, size=16, style="B", h=8)
    pdf.set_text_color(*INK)
    pdf.write_line(heading.title, size=12, h=6)
    pdf.set_text_color(*GREY)
    pdf.write_line(f"Generated {format_time(heading.generated_at)}", size=8, h=4.5)
    if heading.prepared_for:
        pdf.write_line(f"Prepared for {heading.prepared_for}", size=8, h=4.5)
    pdf.set_text_color(*INK)
    pdf.ln(2)
    client = heading.client
    pdf.write_line(f"Client: {full_name(client)}", size=11, style="B", h=6)
    pdf.write_line(f"Date of birth: {format_date(client.date_of_birth)}", size=9, h=5)
    if not plans:
        pdf.ln(3)
        pdf.write_line("No care plan is linked to this referral yet.", size=10)

    for view in plan_views(plans, width=PDF_CHART_WIDTH, height=PDF_CHART_HEIGHT):
        _pdf_plan(pdf, view)
    return bytes(pdf.output())


def _pdf_plan(pdf: _SummaryPdf, view: PlanView) -> None:
    summary = view.progress.summary
    pdf.ln(4)
    if pdf.will_page_break(40):
        pdf.add_page()
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    pdf.set_text_color(*ACCENT)
    pdf.write_line(summary.title, size=14, style="B", h=7)
    pdf.set_text_color(*INK)
    pdf.write_line(plan_line(summary), size=9, h=5)
    pdf.write_line(f"Treating therapist: {therapist_text(summary.therapist)}", size=9, h=5)

    pdf.section("Referral")
    if summary.referrals:
        pdf.table_of(
            [("Referred by", "Reason", "Diagnosis", "Sessions", "Valid until")]
            + [
                (
                    f"{r.referring_professional.full_name}, "
                    f"{words(r.referring_professional.discipline).lower()}",
                    r.reason or "–",
                    diagnosis_text(r),
                    referral_sessions(r),
                    format_date(r.valid_until),
                )
                for r in summary.referrals
            ],
            (38, 40, 46, 32, 24),
        )
    else:
        pdf.write_line("No referral is linked to this plan.", size=9)

    pdf.section("Active precautions")
    if summary.precautions:
        pdf.table_of(
            [("Precaution", "Severity", "Body regions", "Clearance")]
            + [
                (
                    precaution_name(p.category),
                    words(p.severity),
                    regions_text(p.body_regions),
                    clearance_text(p),
                )
                for p in summary.precautions
            ],
            (40, 26, 48, 66),
        )
    else:
        pdf.write_line("None recorded.", size=9)

    counts = summary.sessions
    pdf.section("Sessions")
    pdf.table_of(
        [
            ("Planned", "Completed", "Awaiting signature", "Cancelled", "No-show", "Upcoming"),
            (
                "–" if counts.planned is None else str(counts.planned),
                str(counts.completed),
                str(counts.awaiting_signature),
                str(counts.cancelled),
                str(counts.no_show),
                str(counts.upcoming),
            ),
        ],
        (28, 28, 36, 28, 28, 28),
    )
    if counts.awaiting_signature:
        pdf.set_text_color(*GREY)
        pdf.write_line(
            "Notes awaiting signature are counted here and feed nothing else in this report.",
            size=8,
            h=4.5,
        )
        pdf.set_text_color(*INK)

    pdf.section("Goals")
    if not view.goals:
        pdf.write_line("No goals recorded.", size=9)
    else:
        rows: list[tuple[str, ...]] = [
            (
                "Goal",
                "Measure",
                "Baseline → latest → target",
                "Progress",
                "Lasting change",
                "Change within visits",
                "Clinically important",
            )
        ]
        for item in view.goals:
            g = item.goal
            path = goal_path(g)
            if g.latest_at is not None:
                path += f" (latest {format_date(g.latest_at.date())})"
            rows.append(
                (
                    f"{g.description} ({words(g.status).lower()})",
                    measure_label(g),
                    path,
                    format_percent(g.progress_percent),
                    format_change(g.lasting_change, g.unit),
                    format_change(g.immediate_change, g.unit),
                    f"{importance_word(g)} (MCID {with_unit(g.minimal_important_change, g.unit)})"
                    if g.minimal_important_change is not None
                    else "–",
                )
            )
        pdf.table_of(rows, (34, 30, 32, 18, 20, 20, 26))
        for sentence in importance_sentences([item.goal for item in view.goals]):
            pdf.write_line(sentence, size=9, style="B", h=5)
        pdf.set_text_color(*GREY)
        pdf.write_line(
            "Lasting change: latest before-session value minus the first. Change within "
            "visits: mean of after − before in each session.",
            size=8,
            h=4.5,
        )
        pdf.set_text_color(*INK)
        pdf.ln(2)
        for item in view.goals:
            if pdf.will_page_break(PDF_CHART_HEIGHT + 20):
                pdf.add_page()
            pdf.write_line(item.goal.description, size=9, style="B", h=5)
            pdf.set_text_color(*GREY)
            pdf.write_line(
                f"{measure_label(item.goal)} over time: baseline → latest → target "
                f"{goal_path(item.goal)}",
                size=8,
                h=4.5,
            )
            pdf.set_text_color(*INK)
            pdf.ln(1)
            pdf.chart(item.chart)
            pdf.ln(3)

    pdf.section("Techniques")
    if summary.techniques:
        pdf.table_of(
            [("Technique", "Sessions")]
            + [(name, str(n)) for name, n in summary.techniques.items()],
            (120, 30),
        )
    else:
        pdf.write_line("None recorded.", size=9)

    pdf.section("Adverse events")
    if summary.adverse_events:
        pdf.table_of(
            [("Date", "Description")]
            + [(format_date(e.date), e.description) for e in summary.adverse_events],
            (30, 150),
        )
    else:
        pdf.write_line("None recorded.", size=9)

    pdf.section("Latest assessment")
    pdf.write_line(summary.latest_assessment or "None recorded.", size=9, h=5)
    pdf.section("Latest plan")
    pdf.write_line(summary.latest_plan or "None recorded.", size=9, h=5)

    pdf.section("Signed notes")
    notes = view.progress.notes
    if notes:
        pdf.table_of(
            [("Session", "Signed by", "Signed at", "Addenda")]
            + [
                (format_date(n.date), n.signed_by or "–", format_time(n.signed_at), str(n.addenda))
                for n in notes
            ],
            (30, 70, 50, 30),
        )
    else:
        pdf.write_line("No note is signed yet.", size=9)
