"""Render the progress report of a demo care plan, to look at it.

Seeds a demo clinic into a temporary SQLite database brought to the current schema: a pregnant
client whose name needs more than Latin-1, with a DVT cleared by her physician and a skin
condition on the legs; a physiotherapy referral with a diagnosis and authorised sessions; a
rehabilitation plan with NPRS, ODI and range-of-motion goals (the last with its own MCID); six
weekly sessions with pre- and post-treatment values, signed, one of them corrected by an
addendum; and a seventh completed session whose note awaits signature. It computes the plan's
summary exactly as `GET /v1/care-plans/{id}/summary` does for the referrer (under the client's
consent), and writes

    <out>/summary.html   the printable page (Accept: text/html)
    <out>/summary.pdf    the same report as PDF (Accept: application/pdf)
    <out>/summary.png    a screenshot of the page, when /usr/bin/chromium exists

Usage (from the project root):

    .venv/bin/python scripts/render_report.py [--out DIR] [--no-screenshot]

`--out` defaults to a new temporary folder; the paths written are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.care_plans.models import CarePlan, Goal, care_plan_referrals  # noqa: E402
from app.clients.models import Client, Precaution  # noqa: E402
from app.core.db import create_engine, make_sessionmaker, utcnow  # noqa: E402
from app.directory.models import ReferringProfessional, Therapist  # noqa: E402
from app.referrals.models import Referral  # noqa: E402
from app.session_records.models import Addendum, Measurement, SessionRecord  # noqa: E402
from app.summaries import service  # noqa: E402
from app.summaries.report import ReportHeading, render_html, render_pdf  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CLINIC_NAME = "Riverside Therapeutic Massage"


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


async def seed_and_render(url: str, out: Path) -> tuple[Path, Path]:
    engine = create_engine(url, pool_size=1)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as db:
            therapist = Therapist(
                full_name="Ada Kneading",
                credentials=["RMT", "BSc Kinesiology"],
                certifications=["prenatal", "medical_massage"],
            )
            physio = ReferringProfessional(
                full_name="Dr. Jiří Novák", discipline="physical_therapy"
            )
            physician = ReferringProfessional(
                full_name="Dr. Αλέξανδρος Παπαδόπουλος", discipline="primary_care"
            )
            client = Client(
                given_name="Łucja",
                family_name="Wąsowska-Dvořák",
                date_of_birth=dt.date(1992, 5, 17),
            )
            db.add_all([therapist, physio, physician, client])
            await db.flush()
            db.add_all(
                [
                    Precaution(
                        client_id=client.id,
                        category="pregnancy",
                        severity="relative",
                        description="(not shared) 24 weeks, due 2030-07-02",
                    ),
                    Precaution(
                        client_id=client.id,
                        category="dvt",
                        severity="absolute",
                        body_regions=["legs"],
                        description="(not shared) left calf DVT in 2029, treated",
                        requires_clearance=True,
                        clearance_referring_professional_id=physician.id,
                        cleared_on=dt.date(2030, 2, 25),
                    ),
                    Precaution(
                        client_id=client.id,
                        category="skin_condition",
                        severity="local",
                        body_regions=["legs", "feet"],
                        description="(not shared) eczema",
                    ),
                ]
            )
            referral = Referral(
                client_id=client.id,
                referring_professional_id=physio.id,
                received_on=dt.date(2030, 2, 20),
                reason="Low back pain in pregnancy; soft-tissue work alongside physiotherapy",
                diagnosis_codes=["M54.50", "O26.89"],
                diagnosis_text="Low back pain, pregnancy-related",
                authorized_sessions=10,
                valid_until=dt.date(2030, 6, 30),
                status="accepted",
            )
            start = dt.date(2030, 3, 1)
            plan = CarePlan(
                client_id=client.id,
                primary_therapist_id=therapist.id,
                title="Low back rehabilitation — alongside physiotherapy",
                kind="rehabilitation",
                status="active",
                start_date=start,
                end_date=dt.date(2030, 5, 31),
                planned_sessions=10,
                sessions_per_week=1,
            )
            db.add_all([referral, plan])
            await db.flush()
            await db.execute(
                care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
            )
            pain = Goal(
                care_plan_id=plan.id,
                description="Low back pain at or below 2/10 in daily activities",
                measure="nprs",
                baseline_value=7,
                target_value=2,
                status="active",
                created_at=utcnow(),
            )
            hip = Goal(
                care_plan_id=plan.id,
                description="Hip flexion to 120° on the left",
                measure="rom",
                unit="degrees",
                baseline_value=95,
                target_value=120,
                mcid=10,
                status="active",
                created_at=utcnow() + dt.timedelta(seconds=1),
            )
            odi = Goal(
                care_plan_id=plan.id,
                description="Oswestry Disability Index below 20 % <re-test at week 8>",
                measure="odi",
                baseline_value=38,
                target_value=20,
                status="active",
                created_at=utcnow() + dt.timedelta(seconds=2),
            )
            db.add_all([pain, hip, odi])
            await db.flush()
            weekly = [
                # (pain pre, pain post, hip post, odi, techniques, adverse event)
                (7, 5, 96, 38, ["myofascial release", "effleurage"], None),
                (6, 5, 99, None, ["myofascial release", "trigger point"], None),
                (6, 4, 103, None, ["myofascial release", "trigger point"], "Mild soreness, 24 h"),
                (5, 3, 106, 30, ["myofascial release", "stretching"], None),
                (5, 4, 108, None, ["stretching", "effleurage"], None),
                (4, 3, 111, None, ["myofascial release", "stretching"], None),
                # the latest visit: its note is a draft, awaiting signature
                (2, 1, 119, 12, ["hot stones"], "(draft, not shown) dizziness"),
            ]
            notes: list[SessionRecord] = []
            for week, (pre, post, flexion, disability, techniques, adverse) in enumerate(weekly):
                when = dt.datetime.combine(
                    start + dt.timedelta(days=3 + 7 * week), dt.time(9), tzinfo=dt.UTC
                )
                session = SessionRecord(
                    client_id=client.id,
                    care_plan_id=plan.id,
                    therapist_id=therapist.id,
                    scheduled_start=when,
                    scheduled_end=when + dt.timedelta(minutes=60),
                    duration_minutes=60,
                    status="completed",
                    session_type="therapeutic",
                    body_regions=["lower_back", "hips"],
                    techniques=techniques,
                    soap={
                        "subjective": "(not shared) what the client said",
                        "objective": "(not shared) palpation findings",
                        "assessment": f"Week {week + 1}: lumbar paraspinals less guarded; "
                        "left hip flexors still shortened.",
                        "plan": "Continue weekly. Add PNF stretching for the hip flexors; "
                        "coordinate with physiotherapy on loading.",
                    },
                    adverse_event=adverse,
                )
                values = [
                    (pain.id, "nprs", pre, "pre"),
                    (pain.id, "nprs", post, "post"),
                    (hip.id, "rom", flexion, "post"),
                ]
                if disability is not None:
                    values.append((odi.id, "odi", disability, "pre"))
                session.measurements = [
                    Measurement(
                        client_id=client.id,
                        goal_id=goal_id,
                        position=i,
                        measure=measure,
                        value=value,
                        timing=timing,
                    )
                    for i, (goal_id, measure, value, timing) in enumerate(values)
                ]
                db.add(session)
                notes.append(session)
            for status, days in (("cancelled", 45), ("no_show", 52), ("scheduled", 3650)):
                when = dt.datetime.combine(
                    start + dt.timedelta(days=days), dt.time(9), tzinfo=dt.UTC
                )
                db.add(
                    SessionRecord(
                        client_id=client.id,
                        care_plan_id=plan.id,
                        therapist_id=therapist.id,
                        scheduled_start=when,
                        scheduled_end=when + dt.timedelta(minutes=60),
                        duration_minutes=60,
                        status=status,
                        session_type="therapeutic",
                    )
                )
            await db.flush()
            # written as drafts, then signed, as the clinic does; the last one waits
            for session in notes[:-1]:
                session.note_status = "signed"
                session.signed_at = session.scheduled_end + dt.timedelta(hours=2)
                session.signed_by = therapist.id
            await db.flush()
            db.add(
                Addendum(
                    session_id=notes[2].id,
                    author_type="user",
                    author_id=therapist.id,
                    text="Soreness resolved within 24 h; no change to the plan.",
                    reason="Follow-up call",
                )
            )
            await db.commit()

            progress = await service.care_plan_summary(db, plan, utcnow())
        heading = ReportHeading(
            clinic_name=CLINIC_NAME,
            title="Care plan progress summary",
            client=progress.summary.client,
            generated_at=progress.summary.generated_at,
            prepared_for="Dr. Jiří Novák",
            shared_under_consent=True,
        )
        html_path, pdf_path = out / "summary.html", out / "summary.pdf"
        html_path.write_text(render_html(heading, [progress]), encoding="utf-8")
        pdf_path.write_bytes(render_pdf(heading, [progress]))
        return html_path, pdf_path
    finally:
        await engine.dispose()


def screenshot(html: Path, png: Path) -> bool:
    """A full-page screenshot by headless Chromium, offline and with a throwaway profile."""
    if not CHROMIUM.exists():
        return False
    with tempfile.TemporaryDirectory(prefix="careplan-chromium-") as profile:
        subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                "--window-size=1200,1600",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the files (default: a temp one)")
    parser.add_argument("--no-screenshot", action="store_true", help="skip the screenshot")
    args = parser.parse_args()
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="careplan-report-"))
    out.mkdir(parents=True, exist_ok=True)
    database = Path(tempfile.mkdtemp(prefix="careplan-report-db-")) / "demo.db"
    url = f"sqlite:///{database}"
    try:
        migrate(url)
        html, pdf = asyncio.run(seed_and_render(url, out))
    finally:
        shutil.rmtree(database.parent, ignore_errors=True)
    print(f"HTML: {html}")
    print(f"PDF:  {pdf}")
    if not args.no_screenshot:
        png = out / "summary.png"
        if screenshot(html, png):
            print(f"PNG:  {png}")
        else:
            print(f"PNG:  skipped ({CHROMIUM} not found)")


if __name__ == "__main__":
    main()
