"""The contraindication rules of contract section 6, called directly, without HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.screening import (
    BODY_REGIONS,
    CERTIFICATIONS,
    PRECAUTION_CATEGORIES,
    PRECAUTION_SEVERITIES,
    PRECAUTION_STATUSES,
    SESSION_TYPES,
    Block,
    BlockCode,
    ClientFacts,
    PrecautionFacts,
    ProposedSession,
    ReferralFacts,
    Screening,
    TherapistFacts,
    Warning,
    WarningCode,
    screen_session,
)

SESSION_DAY = dt.date(2025, 3, 10)
START = dt.datetime(2025, 3, 10, 14, 0, tzinfo=dt.UTC)
THERAPIST_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def precaution(
    category: str = "other",
    severity: str = "relative",
    regions: Iterable[str] = (),
    *,
    status: str = "active",
    requires_clearance: bool = False,
    cleared: bool = False,
    id: uuid.UUID | None = None,
) -> PrecautionFacts:
    return PrecautionFacts(
        id=id or uuid.uuid4(),
        category=category,
        severity=severity,
        body_regions=frozenset(regions),
        status=status,
        requires_clearance=requires_clearance,
        cleared=cleared,
    )


def therapist(
    certifications: Iterable[str] = (), license_expires_on: dt.date | None = None
) -> TherapistFacts:
    return TherapistFacts(
        id=THERAPIST_ID,
        license_expires_on=license_expires_on,
        certifications=frozenset(certifications),
    )


def proposed(
    regions: Iterable[str] = ("upper_back", "neck"),
    start: dt.datetime = START,
    session_type: str = "therapeutic",
) -> ProposedSession:
    return ProposedSession(
        start=start, duration_minutes=60, body_regions=frozenset(regions), session_type=session_type
    )


def referral(
    valid_until: dt.date | None = None,
    authorized_sessions: int | None = None,
    sessions_booked: int = 1,
) -> ReferralFacts:
    return ReferralFacts(
        id=uuid.uuid4(),
        valid_until=valid_until,
        authorized_sessions=authorized_sessions,
        sessions_booked=sessions_booked,
    )


def screen(
    precautions: Iterable[PrecautionFacts] = (),
    *,
    due: dt.date | None = None,
    by: TherapistFacts | None = None,
    session: ProposedSession | None = None,
    referrals: Iterable[ReferralFacts] = (),
    consent: bool = True,
) -> Screening:
    return screen_session(
        ClientFacts(pregnancy_due_date=due, treatment_consent=consent),
        precautions,
        by or therapist(),
        session or proposed(),
        referrals,
    )


def block_codes(screening: Screening) -> list[str]:
    return [block.code for block in screening.blocking]


def warning_codes(screening: Screening) -> list[str]:
    return [warning.code for warning in screening.warnings]


# --- nothing to say -----------------------------------------------------------------------------


def test_a_client_with_nothing_on_file_is_neither_blocked_nor_warned() -> None:
    result = screen()
    assert result == Screening(blocking=(), warnings=())
    assert not result.blocked


# --- absolute precautions -----------------------------------------------------------------------


def test_an_absolute_contraindication_without_clearance_blocks() -> None:
    dvt = precaution("dvt", "absolute", ["legs"], requires_clearance=True)
    result = screen([dvt], session=proposed(["head"]))
    assert result.blocked
    assert result.blocking == (
        Block(
            code="absolute_contraindication",
            category="dvt",
            reason=result.blocking[0].reason,
            precaution_id=dvt.id,
        ),
    )
    assert "deep vein thrombosis" in result.blocking[0].reason
    assert "clear" in result.blocking[0].reason
    assert result.warnings == ()


def test_an_absolute_contraindication_blocks_a_session_with_no_body_region() -> None:
    fever = precaution("fever_infection", "absolute", requires_clearance=True)
    assert block_codes(screen([fever], session=proposed([]))) == ["absolute_contraindication"]


def test_a_cleared_absolute_contraindication_only_warns() -> None:
    dvt = precaution("dvt", "absolute", requires_clearance=True, cleared=True)
    result = screen([dvt])
    assert not result.blocked
    assert [(w.code, w.precaution_id) for w in result.warnings] == [
        ("cleared_contraindication", dvt.id)
    ]


@pytest.mark.parametrize("cleared", [False, True])
def test_an_absolute_precaution_needing_no_clearance_warns_and_does_not_block(
    cleared: bool,
) -> None:
    heart = precaution("cardiovascular", "absolute", requires_clearance=False, cleared=cleared)
    result = screen([heart])
    assert not result.blocked
    assert [(w.code, w.precaution_id) for w in result.warnings] == [
        ("absolute_precaution", heart.id)
    ]
    assert "adapt" in result.warnings[0].message


@pytest.mark.parametrize("severity", PRECAUTION_SEVERITIES)
@pytest.mark.parametrize("category", PRECAUTION_CATEGORIES)
def test_a_resolved_precaution_neither_blocks_nor_warns(category: str, severity: str) -> None:
    old = precaution(category, severity, ["upper_back"], status="resolved", requires_clearance=True)
    assert screen([old], session=proposed(["upper_back"])) == Screening(blocking=(), warnings=())


# --- local precautions --------------------------------------------------------------------------


def test_a_local_contraindication_on_a_treated_region_blocks() -> None:
    skin = precaution("skin_condition", "local", ["lower_back", "legs"])
    result = screen([skin], session=proposed(["neck", "lower_back", "legs", "feet"]))
    assert [(b.code, b.category, b.precaution_id) for b in result.blocking] == [
        ("local_contraindication", "skin_condition", skin.id)
    ]
    reason = result.blocking[0].reason
    assert "lower back and legs" in reason
    assert "neck" not in reason
    assert "feet" not in reason
    assert result.warnings == ()


def test_a_local_contraindication_on_one_shared_region_blocks() -> None:
    surgery = precaution("recent_surgery", "local", ["knees", "abdomen"])
    result = screen([surgery], session=proposed(["knees"]))
    assert block_codes(result) == ["local_contraindication"]


@pytest.mark.parametrize(
    ("regions", "named"),
    [
        (["knees"], "the session includes the knees, which"),
        (
            ["legs", "neck", "lower_back"],
            "the session includes the neck, lower back and legs, which",
        ),
        (
            ["feet", "hips", "upper_back", "head"],
            "the session includes the head, upper back, hips and feet, which",
        ),
    ],
)
def test_the_reason_names_every_region_head_to_feet(regions: list[str], named: str) -> None:
    skin = precaution("skin_condition", "local", regions)
    (block,) = screen([skin], session=proposed(regions)).blocking
    assert named in block.reason


def test_a_local_contraindication_away_from_the_treated_regions_warns_to_avoid_them() -> None:
    skin = precaution("skin_condition", "local", ["hands", "feet"])
    result = screen([skin], session=proposed(["upper_back", "neck"]))
    assert not result.blocked
    assert [(w.code, w.precaution_id) for w in result.warnings] == [("local_precaution", skin.id)]
    assert "avoid the hands and feet" in result.warnings[0].message


def test_a_cleared_local_contraindication_still_blocks_its_regions() -> None:
    burn = precaution("skin_condition", "local", ["arms"], requires_clearance=True, cleared=True)
    assert block_codes(screen([burn], session=proposed(["arms"]))) == ["local_contraindication"]


def test_a_local_precaution_without_regions_warns_and_never_blocks() -> None:
    vague = precaution("allergy", "local", [])
    result = screen([vague], session=proposed(BODY_REGIONS))
    assert not result.blocked
    assert warning_codes(result) == ["local_precaution"]
    assert "no body region" in result.warnings[0].message


def test_a_resolved_local_contraindication_on_a_treated_region_does_not_block() -> None:
    healed = precaution("skin_condition", "local", ["legs"], status="resolved")
    assert screen([healed], session=proposed(["legs"])) == Screening(blocking=(), warnings=())


# --- the therapist's licence --------------------------------------------------------------------


def test_a_license_expired_before_the_session_date_blocks() -> None:
    result = screen(by=therapist(license_expires_on=SESSION_DAY - dt.timedelta(days=1)))
    assert result.blocking == (
        Block(
            code="license_expired",
            category="license",
            reason=result.blocking[0].reason,
            precaution_id=None,
        ),
    )
    assert "2025-03-09" in result.blocking[0].reason


@pytest.mark.parametrize(
    "expires_on",
    [SESSION_DAY, SESSION_DAY + dt.timedelta(days=1), SESSION_DAY + dt.timedelta(days=400), None],
    ids=["on-the-expiry-day", "the-day-after", "next-year", "no-expiry-recorded"],
)
def test_a_license_valid_on_the_session_date_does_not_block(expires_on: dt.date | None) -> None:
    assert not screen(by=therapist(license_expires_on=expires_on)).blocked


def test_the_session_date_is_taken_in_utc() -> None:
    # 01:00 in UTC+2 on the 11th is 23:00 UTC on the 10th: the licence is still valid.
    late = dt.datetime(2025, 3, 11, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert proposed(start=late).date == SESSION_DAY
    result = screen(by=therapist(license_expires_on=SESSION_DAY), session=proposed(start=late))
    assert not result.blocked
    # 23:30 in UTC-5 on the 10th is 04:30 UTC on the 11th: it has expired.
    early = dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    result = screen(by=therapist(license_expires_on=SESSION_DAY), session=proposed(start=early))
    assert proposed(start=early).date == SESSION_DAY + dt.timedelta(days=1)
    assert block_codes(result) == ["license_expired"]


# --- pregnancy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("severity", PRECAUTION_SEVERITIES)
@pytest.mark.parametrize("cleared", [False, True])
def test_an_active_pregnancy_precaution_needs_a_prenatal_therapist(
    severity: str, cleared: bool
) -> None:
    pregnancy = precaution("pregnancy", severity, ["abdomen"], cleared=cleared)
    result = screen([pregnancy], session=proposed(["neck"]), by=therapist(["sports"]))
    prenatal = [b for b in result.blocking if b.code == "prenatal_certification_required"]
    assert [(b.category, b.precaution_id) for b in prenatal] == [("pregnancy", pregnancy.id)]
    assert "prenatal certification" in prenatal[0].reason

    certified = screen([pregnancy], session=proposed(["neck"]), by=therapist(["prenatal"]))
    assert "prenatal_certification_required" not in block_codes(certified)


def test_a_pregnancy_precaution_also_warns_by_its_severity() -> None:
    pregnancy = precaution("pregnancy", "relative")
    result = screen([pregnancy], by=therapist(["prenatal"]))
    assert not result.blocked
    assert [(w.code, w.precaution_id) for w in result.warnings] == [
        ("relative_precaution", pregnancy.id)
    ]


def test_a_resolved_pregnancy_precaution_needs_no_prenatal_therapist() -> None:
    after_birth = precaution("pregnancy", "relative", status="resolved")
    assert not screen([after_birth]).blocked


@pytest.mark.parametrize(
    "due",
    [SESSION_DAY, SESSION_DAY + dt.timedelta(days=1), SESSION_DAY + dt.timedelta(days=200)],
    ids=["due-on-the-session-day", "due-the-day-after", "due-in-months"],
)
def test_a_due_date_on_or_after_the_session_needs_a_prenatal_therapist(due: dt.date) -> None:
    result = screen(due=due)
    assert result.blocking == (
        Block(
            code="prenatal_certification_required",
            category="pregnancy",
            reason=result.blocking[0].reason,
            precaution_id=None,
        ),
    )
    assert due.isoformat() in result.blocking[0].reason
    assert not screen(due=due, by=therapist(["prenatal"])).blocked


def test_a_due_date_before_the_session_needs_no_prenatal_therapist() -> None:
    assert not screen(due=SESSION_DAY - dt.timedelta(days=1)).blocked


def test_a_pregnancy_precaution_and_a_due_date_give_one_block_naming_the_precaution() -> None:
    pregnancy = precaution("pregnancy", "relative")
    result = screen([pregnancy], due=SESSION_DAY + dt.timedelta(days=90))
    assert [(b.code, b.precaution_id) for b in result.blocking] == [
        ("prenatal_certification_required", pregnancy.id)
    ]


def test_two_pregnancy_precautions_give_one_block_naming_the_smallest_id() -> None:
    low = precaution("pregnancy", "relative", id=uuid.UUID(int=1))
    high = precaution("pregnancy", "local", ["abdomen"], id=uuid.UUID(int=2))
    for order in ([low, high], [high, low]):
        result = screen(order, session=proposed(["neck"]))
        assert [(b.code, b.precaution_id) for b in result.blocking] == [
            ("prenatal_certification_required", low.id)
        ]


def test_an_uncleared_absolute_pregnancy_precaution_blocks_twice_without_prenatal() -> None:
    risky = precaution("pregnancy", "absolute", requires_clearance=True)
    result = screen([risky])
    assert block_codes(result) == ["absolute_contraindication", "prenatal_certification_required"]
    assert block_codes(screen([risky], by=therapist(["prenatal"]))) == ["absolute_contraindication"]


# --- cancer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("severity", PRECAUTION_SEVERITIES)
def test_an_active_cancer_precaution_needs_an_oncology_therapist(severity: str) -> None:
    cancer = precaution("cancer", severity, ["chest"], cleared=True)
    for certifications in ([], ["prenatal", "sports", "lymphatic_drainage", "medical_massage"]):
        result = screen([cancer], session=proposed(["feet"]), by=therapist(certifications))
        oncology = [b for b in result.blocking if b.code == "oncology_certification_required"]
        assert [(b.category, b.precaution_id) for b in oncology] == [("cancer", cancer.id)]
        assert "oncology certification" in oncology[0].reason

    certified = screen([cancer], session=proposed(["feet"]), by=therapist(["oncology"]))
    assert "oncology_certification_required" not in block_codes(certified)


def test_a_resolved_cancer_precaution_needs_no_oncology_therapist() -> None:
    remission = precaution("cancer", "relative", status="resolved")
    assert not screen([remission]).blocked


# --- relative precautions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "category", [c for c in PRECAUTION_CATEGORIES if c not in {"pregnancy", "cancer"}]
)
def test_a_relative_precaution_warns_and_does_not_block(category: str) -> None:
    relative = precaution(category, "relative", ["upper_back"], requires_clearance=True)
    result = screen([relative], session=proposed(["upper_back"]))
    assert not result.blocked
    assert result.warnings == (
        Warning(
            code="relative_precaution",
            message=result.warnings[0].message,
            precaution_id=relative.id,
        ),
    )


# --- referrals ----------------------------------------------------------------------------------


def test_a_referral_past_its_validity_warns_and_does_not_block() -> None:
    expired = referral(valid_until=SESSION_DAY - dt.timedelta(days=1))
    result = screen(referrals=[expired])
    assert not result.blocked
    assert result.warnings == (
        Warning(code="referral_expired", message=result.warnings[0].message),
    )
    assert str(expired.id) in result.warnings[0].message
    assert "2025-03-09" in result.warnings[0].message


@pytest.mark.parametrize(
    "valid_until",
    [SESSION_DAY, SESSION_DAY + dt.timedelta(days=30), None],
    ids=["valid-on-the-session-day", "valid-for-a-month", "open-ended"],
)
def test_a_referral_valid_on_the_session_date_does_not_warn(valid_until: dt.date | None) -> None:
    assert screen(referrals=[referral(valid_until=valid_until)]).warnings == ()


def test_more_sessions_than_authorized_warns_and_does_not_block() -> None:
    used_up = referral(authorized_sessions=6, sessions_booked=7)
    result = screen(referrals=[used_up])
    assert not result.blocked
    assert warning_codes(result) == ["authorized_sessions_exceeded"]
    assert result.warnings[0].precaution_id is None
    assert "6 sessions" in result.warnings[0].message
    assert "number 7" in result.warnings[0].message


@pytest.mark.parametrize(
    ("authorized", "booked"),
    [(6, 6), (6, 1), (None, 500), (0, 0)],
    ids=["the-last-authorized", "the-first", "no-limit", "nothing-booked"],
)
def test_sessions_within_the_authorization_do_not_warn(authorized: int | None, booked: int) -> None:
    assert screen(referrals=[referral(None, authorized, booked)]).warnings == ()


def test_one_referral_can_be_both_expired_and_used_up() -> None:
    stale = referral(SESSION_DAY - dt.timedelta(days=10), authorized_sessions=1, sessions_booked=2)
    result = screen(referrals=[stale])
    assert warning_codes(result) == ["referral_expired", "authorized_sessions_exceeded"]
    assert "1 session;" in result.warnings[1].message


# --- treatment consent --------------------------------------------------------------------------


def test_no_treatment_consent_warns_and_does_not_block() -> None:
    result = screen(consent=False)
    assert not result.blocked
    assert result.warnings == (
        Warning(code="no_treatment_consent", message=result.warnings[0].message),
    )
    assert "treatment consent" in result.warnings[0].message


def test_a_treatment_consent_on_file_gives_no_consent_warning() -> None:
    assert screen(consent=True) == Screening(blocking=(), warnings=())


def test_the_consent_warning_comes_after_the_referral_warnings() -> None:
    stale = referral(SESSION_DAY - dt.timedelta(days=1))
    result = screen([precaution("allergy", "relative")], referrals=[stale], consent=False)
    assert warning_codes(result) == [
        "relative_precaution",
        "referral_expired",
        "no_treatment_consent",
    ]


# --- the whole result ---------------------------------------------------------------------------


def test_blocks_and_warnings_come_in_a_fixed_order() -> None:
    ids = [uuid.UUID(int=n) for n in range(1, 8)]
    precautions = [
        precaution("cancer", "relative", id=ids[0]),
        precaution("skin_condition", "local", ["legs"], id=ids[1]),
        precaution("dvt", "absolute", requires_clearance=True, id=ids[2]),
        precaution("osteoporosis", "absolute", requires_clearance=True, cleared=True, id=ids[3]),
        precaution("allergy", "local", ["hands"], id=ids[4]),
        precaution("cardiovascular", "absolute", id=ids[5]),
        precaution("pregnancy", "relative", id=ids[6]),
    ]
    stale = referral(SESSION_DAY - dt.timedelta(days=1), authorized_sessions=2, sessions_booked=3)
    result = screen(
        precautions,
        by=therapist(license_expires_on=SESSION_DAY - dt.timedelta(days=30)),
        session=proposed(["legs", "neck"]),
        referrals=[stale],
    )
    assert [(b.code, b.precaution_id) for b in result.blocking] == [
        ("absolute_contraindication", ids[2]),
        ("local_contraindication", ids[1]),
        ("license_expired", None),
        ("prenatal_certification_required", ids[6]),
        ("oncology_certification_required", ids[0]),
    ]
    assert [(w.code, w.precaution_id) for w in result.warnings] == [
        ("cleared_contraindication", ids[3]),
        ("absolute_precaution", ids[5]),
        ("local_precaution", ids[4]),
        ("relative_precaution", ids[0]),
        ("relative_precaution", ids[6]),
        ("referral_expired", None),
        ("authorized_sessions_exceeded", None),
    ]
    assert list(reversed(precautions)) != precautions
    assert (
        screen(
            list(reversed(precautions)),
            by=therapist(license_expires_on=SESSION_DAY - dt.timedelta(days=30)),
            session=proposed(["legs", "neck"]),
            referrals=[stale],
        )
        == result
    )


def test_the_same_precaution_given_twice_is_reported_once() -> None:
    dvt = precaution("dvt", "absolute", requires_clearance=True)
    skin = precaution("skin_condition", "local", ["legs"])
    once = screen([dvt, skin])
    assert screen([dvt, skin, dvt, skin]) == once
    assert len(once.blocking) == 1
    assert len(once.warnings) == 1


def test_problem_items_and_warning_dicts_have_the_contract_shape() -> None:
    dvt = precaution("dvt", "absolute", requires_clearance=True)
    heart = precaution("cardiovascular", "absolute")
    result = screen(
        [dvt, heart],
        by=therapist(license_expires_on=SESSION_DAY - dt.timedelta(days=1)),
        referrals=[referral(authorized_sessions=1, sessions_booked=2)],
    )
    items = [block.as_problem_item() for block in result.blocking]
    assert items == [
        {"precaution_id": str(dvt.id), "category": "dvt", "reason": result.blocking[0].reason},
        {"precaution_id": None, "category": "license", "reason": result.blocking[1].reason},
    ]
    warnings = [warning.as_dict() for warning in result.warnings]
    assert warnings == [
        {
            "code": "absolute_precaution",
            "message": result.warnings[0].message,
            "precaution_id": str(heart.id),
        },
        {"code": "authorized_sessions_exceeded", "message": result.warnings[1].message},
    ]
    assert json.loads(json.dumps({"blocking": items, "warnings": warnings})) == {
        "blocking": items,
        "warnings": warnings,
    }
    assert all(type(item["code"]) is str for item in warnings)


def test_codes_are_plain_strings_equal_to_their_contract_names() -> None:
    assert [code.value for code in BlockCode] == [
        "absolute_contraindication",
        "local_contraindication",
        "license_expired",
        "prenatal_certification_required",
        "oncology_certification_required",
    ]
    assert [code.value for code in WarningCode] == [
        "cleared_contraindication",
        "absolute_precaution",
        "local_precaution",
        "relative_precaution",
        "referral_expired",
        "authorized_sessions_exceeded",
        "no_treatment_consent",
    ]


# --- facts that would silently skip a rule are refused ------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"category": "Pregnancy"},
        {"severity": "severe"},
        {"status": "inactive"},
        {"body_regions": frozenset({"upper back"})},
    ],
)
def test_a_precaution_with_an_unknown_value_is_refused(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "category": "other",
        "severity": "local",
        "body_regions": frozenset({"legs"}),
        "status": "active",
        "requires_clearance": False,
        "cleared": False,
    }
    with pytest.raises(ValueError, match="unknown"):
        PrecautionFacts(**{**fields, **change})  # type: ignore[arg-type]


def test_a_session_with_an_unknown_region_or_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown body region"):
        proposed(["lower-back"])
    with pytest.raises(ValueError, match="unknown session type"):
        proposed(session_type="hot_stone")


def test_a_naive_session_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        proposed(start=dt.datetime(2025, 3, 10, 14, 0))


def test_a_single_region_given_as_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="not a string"):
        PrecautionFacts(uuid.uuid4(), "skin_condition", "local", "legs", "active", False, False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a string"):
        ProposedSession(START, 60, "legs", "therapeutic")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a string"):
        TherapistFacts(THERAPIST_ID, None, "prenatal")  # type: ignore[arg-type]


def test_lists_are_accepted_and_frozen() -> None:
    facts = PrecautionFacts(
        id=uuid.uuid4(),
        category="skin_condition",
        severity="local",
        body_regions=["legs", "legs"],  # type: ignore[arg-type]
        status="active",
        requires_clearance=False,
        cleared=False,
    )
    assert facts.body_regions == frozenset({"legs"})
    assert isinstance(facts.body_regions, frozenset)
    session = ProposedSession(START, 60, ["legs"], "therapeutic")  # type: ignore[arg-type]
    assert block_codes(screen([facts], session=session)) == ["local_contraindication"]
    staff = TherapistFacts(THERAPIST_ID, None, ["prenatal"])  # type: ignore[arg-type]
    assert staff.certifications == frozenset({"prenatal"})


# --- properties ---------------------------------------------------------------------------------

PROPERTIES = settings(max_examples=200, deadline=None)

# Precautions, sessions and certification blocks are compared by what they are about: which rule
# and which precaution for absolute and local blocks; which rule for the others, whose reason and
# named precaution follow the facts that remain.
PER_PRECAUTION = {BlockCode.ABSOLUTE_CONTRAINDICATION, BlockCode.LOCAL_CONTRAINDICATION}


def block_keys(screening: Screening) -> set[tuple[str, str, uuid.UUID | None]]:
    return {
        (b.code, b.category, b.precaution_id if b.code in PER_PRECAUTION else None)
        for b in screening.blocking
    }


# A few regions are drawn more often than the rest so that overlaps are common.
regions = st.frozensets(
    st.sampled_from(BODY_REGIONS[:4]) | st.sampled_from(BODY_REGIONS), max_size=5
)


@dataclasses.dataclass(frozen=True)
class Scenario:
    client: ClientFacts
    precautions: tuple[PrecautionFacts, ...]
    therapist: TherapistFacts
    session: ProposedSession
    referrals: tuple[ReferralFacts, ...]

    def screen(self, **changes: object) -> Screening:
        changed = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        return screen_session(
            changed.client,
            changed.precautions,
            changed.therapist,
            changed.session,
            changed.referrals,
        )


def precautions_strategy(
    statuses: st.SearchStrategy[str] = st.sampled_from(PRECAUTION_STATUSES),
) -> st.SearchStrategy[PrecautionFacts]:
    return st.builds(
        PrecautionFacts,
        id=st.uuids(),
        category=st.sampled_from(PRECAUTION_CATEGORIES),
        severity=st.sampled_from(PRECAUTION_SEVERITIES),
        body_regions=regions,
        status=statuses,
        requires_clearance=st.booleans(),
        cleared=st.booleans(),
    )


# Strategies are built once: building them for every example would dominate the run time.
session_days = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 12, 31))
session_times = st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
# Starts are mostly given in UTC; other offsets check that the session date is the UTC one.
session_zones = st.sampled_from(
    [dt.UTC, dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))]
)
# Dates a few days either side of the session, so that every boundary is hit often.
days_from_session = st.none() | st.integers(-3, 3)
precaution_lists = {
    size: st.lists(precautions_strategy(), min_size=size, max_size=6, unique_by=lambda p: p.id)
    for size in (0, 1)
}
certification_sets = st.frozensets(st.sampled_from(CERTIFICATIONS))
session_types = st.sampled_from(SESSION_TYPES)
referral_terms = st.lists(
    st.tuples(
        st.uuids(),
        days_from_session,
        st.none() | st.integers(0, 6),
        st.integers(0, 8),
    ),
    max_size=3,
    unique_by=lambda terms: terms[0],
)


@st.composite
def scenarios(draw: st.DrawFn, min_precautions: int = 0) -> Scenario:
    start = dt.datetime.combine(draw(session_days), draw(session_times), draw(session_zones))
    day = start.astimezone(dt.UTC).date()

    def near(offset: int | None) -> dt.date | None:
        return None if offset is None else day + dt.timedelta(days=offset)

    return Scenario(
        client=ClientFacts(
            pregnancy_due_date=near(draw(days_from_session)), treatment_consent=draw(st.booleans())
        ),
        precautions=tuple(draw(precaution_lists[min_precautions])),
        therapist=TherapistFacts(
            id=THERAPIST_ID,
            license_expires_on=near(draw(days_from_session)),
            certifications=draw(certification_sets),
        ),
        session=ProposedSession(
            start=start,
            duration_minutes=60,
            body_regions=draw(regions),
            session_type=draw(session_types),
        ),
        referrals=tuple(
            ReferralFacts(id, near(offset), authorized, booked)
            for id, offset, authorized, booked in draw(referral_terms)
        ),
    )


@PROPERTIES
@given(scenarios())
def test_property_the_result_is_ordered_without_duplicates(scenario: Scenario) -> None:
    result = scenario.screen()
    assert result.blocked == bool(result.blocking)
    assert len(set(result.blocking)) == len(result.blocking)
    assert len(set(result.warnings)) == len(result.warnings)
    block_ranks = [list(BlockCode).index(BlockCode(b.code)) for b in result.blocking]
    warning_ranks = [list(WarningCode).index(WarningCode(w.code)) for w in result.warnings]
    assert block_ranks == sorted(block_ranks)
    assert warning_ranks == sorted(warning_ranks)
    assert scenario.screen() == result
    json.dumps(
        {
            "blocking": [b.as_problem_item() for b in result.blocking],
            "warnings": [w.as_dict() for w in result.warnings],
        }
    )


@PROPERTIES
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_the_order_of_the_facts_does_not_matter(
    scenario: Scenario, rng: random.Random
) -> None:
    precautions = list(scenario.precautions)
    referrals = list(scenario.referrals)
    rng.shuffle(precautions)
    rng.shuffle(referrals)
    assert (
        scenario.screen(precautions=tuple(precautions), referrals=tuple(referrals))
        == scenario.screen()
    )
    assert (
        scenario.screen(precautions=scenario.precautions + scenario.precautions)
        == scenario.screen()
    )


@PROPERTIES
@given(scenarios(), st.lists(precautions_strategy(st.just("resolved")), max_size=4))
def test_property_resolved_precautions_are_ignored(
    scenario: Scenario, resolved: list[PrecautionFacts]
) -> None:
    result = scenario.screen(precautions=scenario.precautions + tuple(resolved))
    assert result == scenario.screen()
    active_ids = {p.id for p in scenario.precautions if p.status == "active"}
    named = {b.precaution_id for b in result.blocking} | {w.precaution_id for w in result.warnings}
    assert named - {None} <= active_ids


@PROPERTIES
@given(scenarios(min_precautions=1), st.data())
def test_property_resolving_a_precaution_never_adds_a_block(
    scenario: Scenario, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(scenario.precautions) - 1))
    target = scenario.precautions[index]
    precautions = list(scenario.precautions)
    precautions[index] = dataclasses.replace(target, status="resolved")
    before = scenario.screen()
    after = scenario.screen(precautions=tuple(precautions))
    assert block_keys(after) <= block_keys(before)
    assert all(b.precaution_id != target.id for b in after.blocking)
    assert all(w.precaution_id != target.id for w in after.warnings)


@PROPERTIES
@given(scenarios(min_precautions=1), st.data())
def test_property_clearing_an_absolute_contraindication_unblocks_it(
    scenario: Scenario, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(scenario.precautions) - 1))
    precautions = list(scenario.precautions)
    uncleared = dataclasses.replace(
        precautions[index],
        severity="absolute",
        status="active",
        requires_clearance=True,
        cleared=False,
    )
    precautions[index] = uncleared
    before = scenario.screen(precautions=tuple(precautions))
    precautions[index] = dataclasses.replace(uncleared, cleared=True)
    after = scenario.screen(precautions=tuple(precautions))

    absolute = BlockCode.ABSOLUTE_CONTRAINDICATION
    assert (absolute, uncleared.id) in {(b.code, b.precaution_id) for b in before.blocking}
    assert (absolute, uncleared.id) not in {(b.code, b.precaution_id) for b in after.blocking}
    assert (WarningCode.CLEARED_CONTRAINDICATION, uncleared.id) in {
        (w.code, w.precaution_id) for w in after.warnings
    }
    assert block_keys(after) <= block_keys(before)


@PROPERTIES
@given(scenarios(min_precautions=1), st.data())
def test_property_a_local_precaution_blocks_exactly_the_sessions_touching_its_regions(
    scenario: Scenario, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(scenario.precautions) - 1))
    precautions = list(scenario.precautions)
    local = dataclasses.replace(
        precautions[index],
        severity="local",
        status="active",
        body_regions=data.draw(st.frozensets(st.sampled_from(BODY_REGIONS), min_size=1)),
    )
    precautions[index] = local
    elsewhere = sorted(set(BODY_REGIONS) - local.body_regions)
    away = data.draw(
        st.frozensets(st.sampled_from(elsewhere)) if elsewhere else st.just(frozenset())
    )
    touching = away | {data.draw(st.sampled_from(sorted(local.body_regions)))}

    def local_blocks(session_regions: frozenset[str]) -> list[Block]:
        session = dataclasses.replace(scenario.session, body_regions=session_regions)
        result = scenario.screen(precautions=tuple(precautions), session=session)
        return [
            b
            for b in result.blocking
            if b.code == BlockCode.LOCAL_CONTRAINDICATION and b.precaution_id == local.id
        ]

    assert local_blocks(away) == []
    assert len(local_blocks(touching)) == 1


@PROPERTIES
@given(scenarios(), st.frozensets(st.sampled_from(CERTIFICATIONS)))
def test_property_more_certifications_never_add_a_block(
    scenario: Scenario, extra: frozenset[str]
) -> None:
    therapist = dataclasses.replace(
        scenario.therapist, certifications=scenario.therapist.certifications | extra
    )
    before = scenario.screen()
    after = scenario.screen(therapist=therapist)
    assert set(after.blocking) <= set(before.blocking)
    assert after.warnings == before.warnings


@PROPERTIES
@given(scenarios(), st.data())
def test_property_fewer_body_regions_never_add_a_block(
    scenario: Scenario, data: st.DataObject
) -> None:
    treated = sorted(scenario.session.body_regions)
    kept = data.draw(st.sets(st.sampled_from(treated))) if treated else set()
    session = dataclasses.replace(scenario.session, body_regions=frozenset(kept))
    before = scenario.screen()
    after = scenario.screen(session=session)
    assert block_keys(after) <= block_keys(before)
    local = BlockCode.LOCAL_CONTRAINDICATION
    assert {b.precaution_id for b in after.blocking if b.code == local} <= {
        b.precaution_id for b in before.blocking if b.code == local
    }


@PROPERTIES
@given(scenarios())
def test_property_referrals_only_ever_warn(scenario: Scenario) -> None:
    with_referrals = scenario.screen()
    without = scenario.screen(referrals=())
    assert with_referrals.blocking == without.blocking
    referral_codes = {WarningCode.REFERRAL_EXPIRED, WarningCode.AUTHORIZED_SESSIONS_EXCEEDED}
    assert [w for w in with_referrals.warnings if w.code not in referral_codes] == list(
        without.warnings
    )


@PROPERTIES
@given(scenarios())
def test_property_blocks_and_warnings_are_exactly_those_the_contract_lists(
    scenario: Scenario,
) -> None:
    # The rules of contract section 6 restated as plainly as possible.
    day = scenario.session.start.astimezone(dt.UTC).date()
    active = [p for p in scenario.precautions if p.status == "active"]
    certifications = scenario.therapist.certifications
    blocks: set[tuple[str, uuid.UUID | None]] = set()
    warnings: list[tuple[str, uuid.UUID | None]] = []
    for p in active:
        if p.severity == "absolute" and not p.requires_clearance:
            warnings.append(("absolute_precaution", p.id))
        elif p.severity == "absolute" and p.cleared:
            warnings.append(("cleared_contraindication", p.id))
        elif p.severity == "absolute":
            blocks.add(("absolute_contraindication", p.id))
        elif p.severity == "local" and p.body_regions & scenario.session.body_regions:
            blocks.add(("local_contraindication", p.id))
        elif p.severity == "local":
            warnings.append(("local_precaution", p.id))
        else:
            warnings.append(("relative_precaution", p.id))
    expires_on = scenario.therapist.license_expires_on
    if expires_on is not None and expires_on < day:
        blocks.add(("license_expired", None))
    due = scenario.client.pregnancy_due_date
    pregnant = [p.id for p in active if p.category == "pregnancy"]
    if "prenatal" not in certifications and (pregnant or (due is not None and due >= day)):
        blocks.add(("prenatal_certification_required", min(pregnant, default=None)))
    cancer = [p.id for p in active if p.category == "cancer"]
    if "oncology" not in certifications and cancer:
        blocks.add(("oncology_certification_required", min(cancer)))
    for r in scenario.referrals:
        if r.valid_until is not None and r.valid_until < day:
            warnings.append(("referral_expired", None))
        if r.authorized_sessions is not None and r.sessions_booked > r.authorized_sessions:
            warnings.append(("authorized_sessions_exceeded", None))
    if not scenario.client.treatment_consent:
        warnings.append(("no_treatment_consent", None))

    result = scenario.screen()
    assert sorted((b.code, str(b.precaution_id)) for b in result.blocking) == sorted(
        (code, str(id)) for code, id in blocks
    )
    assert sorted((w.code, str(w.precaution_id)) for w in result.warnings) == sorted(
        (code, str(id)) for code, id in warnings
    )
    assert result.blocked == bool(blocks)
