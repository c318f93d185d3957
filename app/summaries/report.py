"""The printable progress report, as a self-contained HTML page or a PDF, and the choice between
those and JSON by the request's `Accept` header."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.core.errors import NotAcceptable
from app.summaries.charts import Chart, Level, format_value, goal_chart
from app.summaries.schemas import GoalProgress, SummaryClient
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

MEASURE_NAMES = {
    "nprs": "Pain, NPRS 0–10",
    "odi": "Oswestry Disability Index, %",
    "rmdq": "Roland-Morris, 0–24",
    "psfs": "Patient-Specific Functional Scale, 0–10",
    "rom": "Range of motion",
    "custom": "Custom measure",
}


@dataclass(frozen=True, slots=True)
class ReportHeading:
    """Who the report is from, about and for."""

    clinic_name: str
    title: str
    client: SummaryClient
    generated_at: dt.datetime
    referral_id: uuid.UUID | None = None
    prepared_for: str | None = None


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
    return "–" if value is None else f"{value:.1f} %"


def measure_label(goal: GoalProgress) -> str:
    """`Range of motion (degrees)`: the measure's name, and the goal's unit when it has one."""
    name = MEASURE_NAMES.get(goal.measure, goal.measure)
    return f"{name} ({goal.unit})" if goal.unit else name


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
)

SVG_WIDTH, SVG_HEIGHT = 640, 240


def render_html(heading: ReportHeading, plans: Sequence[PlanProgress]) -> str:
    """A self-contained printable page: inline CSS, inline SVG charts, every text escaped."""
    template = _templates.get_template("summary.html")
    return template.render(
        heading=heading,
        plans=plan_views(plans, width=SVG_WIDTH, height=SVG_HEIGHT),
        client_name=full_name(heading.client),
    )


# ---- PDF -------------------------------------------------------------------------------------

PDF_ENCODING = "windows-1252"
# characters the core fonts lack, written the way a typist would
_PDF_REPLACEMENTS = str.maketrans(
    {
        "→": "->",
        "←": "<-",
        "≥": ">=",
        "≤": "<=",
        "−": "-",
        "≠": "!=",
        # letters the core fonts lack that do not decompose into a base letter
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\t": "    ",
    }
)
GREY = (110, 110, 110)
LIGHT = (215, 215, 215)
INK = (30, 30, 30)
HEADING_FILL = (241, 245, 247)
ACCENT = (22, 78, 99)
PRE_COLOUR = (217, 119, 6)
POST_COLOUR = (37, 99, 235)
TARGET_COLOUR = (21, 128, 61)
PDF_CHART_WIDTH, PDF_CHART_HEIGHT = 180.0, 62.0


def pdf_text(text: str) -> str:
    """Text the PDF core fonts can show: known symbols spelled out, accents kept where the
    font has them, dropped where it has only the bare letter, anything else as `?`."""
    out: list[str] = []
    for char in text.translate(_PDF_REPLACEMENTS):
        if _encodable(char):
            out.append(char)
            continue
        if unicodedata.category(char) in ("Cc", "Cf") and char not in "\n":
            continue
        bare = "".join(c for c in unicodedata.normalize("NFKD", char) if _encodable(c))
        bare = "".join(c for c in bare if not unicodedata.combining(c))
        out.append(bare or "?")
    return "".join(out)


def _encodable(char: str) -> bool:
    try:
        char.encode(PDF_ENCODING)
    except UnicodeEncodeError:
        return False
    return char == "\n" or unicodedata.category(char) not in ("Cc", "Cf")


class _SummaryPdf(FPDF):
    def __init__(self, heading: ReportHeading) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.heading = heading
        self.core_fonts_encoding = PDF_ENCODING
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(pdf_text(f"{heading.title}: {full_name(heading.client)}"))
        self.set_author(pdf_text(heading.clinic_name))
        self.set_creator(pdf_text(heading.clinic_name))
        self.set_creation_date(heading.generated_at)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("helvetica", size=8)
        self.set_text_color(*GREY)
        note = (
            f"{self.heading.clinic_name} - {full_name(self.heading.client)} - "
            "confidential, shared with the client's consent"
        )
        self.cell(0, 5, pdf_text(note), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    # -- text blocks --

    def write_line(self, text: str, *, size: float = 10, style: str = "", h: float = 5.5) -> None:
        self.set_font("helvetica", style=style, size=size)
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
        self.set_font("helvetica", size=9)
        self.set_draw_color(*LIGHT)
        self.set_fill_color(255, 255, 255)
        self.set_text_color(*INK)
        with self.table(
            col_widths=tuple(widths),
            text_align="LEFT",
            line_height=5.5,
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

        self.set_line_width(0.2)
        self.set_font("helvetica", size=7)
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
            self.set_font("helvetica", style="I", size=8)
            self.set_xy(*at(box.left, box.top + box.height / 2 - 2))
            self.cell(box.width, 4, "No measurements recorded against this goal yet", align="C")

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
        self.set_font("helvetica", size=7)
        x, y = at(right + 1.5, level.label_y)
        self.set_xy(x, y - 2)
        self.cell(30, 4, pdf_text(level.label))

    def _legend(self, x: float, y: float, chart: Chart) -> None:
        self.set_font("helvetica", size=7)
        entries: list[tuple[str, tuple[int, int, int], tuple[float, float] | None]] = [
            (s.label, POST_COLOUR if s.timing == "post" else PRE_COLOUR, None) for s in chart.series
        ]
        if chart.target:
            entries.append(("target", TARGET_COLOUR, (2.4, 1.4)))
        if chart.baseline:
            entries.append(("baseline", GREY, (0.6, 0.9)))
        for label, colour, dash in entries:
            self.set_draw_color(*colour)
            self.set_line_width(0.5)
            if dash:
                self.set_dash_pattern(dash=dash[0], gap=dash[1])
            self.line(x, y, x + 7, y)
            self.set_dash_pattern()
            self.set_text_color(*GREY)
            self.set_xy(x + 8, y - 2)
            self.cell(self.get_string_width(label) + 1, 4, label)
            x += 8 + self.get_string_width(label) + 6
        self.set_line_width(0.2)


def render_pdf(heading: ReportHeading, plans: Sequence[PlanProgress]) -> bytes:
    """The HTML report's content as an A4 PDF in the core fonts; charts drawn as vectors."""
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
    pdf.write_line(
        f"{words(summary.kind)} plan - status {words(summary.status)} - "
        f"period {format_date(summary.period.start)} to {format_date(summary.period.end)}",
        size=9,
        h=5,
    )

    counts = summary.sessions
    pdf.section("Sessions")
    pdf.table_of(
        [
            ("Planned", "Completed", "Cancelled", "No-show", "Upcoming"),
            (
                "–" if counts.planned is None else str(counts.planned),
                str(counts.completed),
                str(counts.cancelled),
                str(counts.no_show),
                str(counts.upcoming),
            ),
        ],
        (36, 36, 36, 36, 36),
    )

    pdf.section("Goals")
    if not view.goals:
        pdf.write_line("No goals recorded.", size=9)
    else:
        rows: list[tuple[str, ...]] = [
            ("Goal", "Measure", "Baseline", "Latest", "Target", "Progress", "Status")
        ]
        for item in view.goals:
            g = item.goal
            unit = f" {g.unit}" if g.unit else ""
            latest = format_value(g.latest_value)
            if g.latest_at is not None:
                latest += f"{unit} ({format_date(g.latest_at.date())})"
            rows.append(
                (
                    g.description,
                    MEASURE_NAMES.get(g.measure, g.measure),
                    format_value(g.baseline_value) + unit,
                    latest,
                    format_value(g.target_value) + unit,
                    format_percent(g.progress_percent),
                    words(g.status),
                )
            )
        pdf.table_of(rows, (50, 28, 19, 28, 19, 18, 18))
        for item in view.goals:
            if pdf.will_page_break(PDF_CHART_HEIGHT + 20):
                pdf.add_page()
            pdf.write_line(item.goal.description, size=9, style="B", h=5)
            pdf.set_text_color(*GREY)
            pdf.write_line(
                f"{measure_label(item.goal)} over time: baseline "
                f"{format_value(item.goal.baseline_value)} -> latest "
                f"{format_value(item.goal.latest_value)} -> target "
                f"{format_value(item.goal.target_value)}",
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
