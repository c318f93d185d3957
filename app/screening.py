"""Contraindication screening of a proposed massage session (contract section 6).

Pure rules: the caller gathers the facts (the client, their precautions, the therapist, the
proposed session and the referrals it falls under) and gets back what blocks the session and what
the therapist must be warned about. Nothing here reads or writes anything, so every rule can be
tested directly.

What blocks (409 ``contraindicated``), counting only ``active`` precautions:

- an ``absolute`` precaution that ``requires_clearance`` and has no clearance;
- a ``local`` precaution whose body regions overlap the session's body regions;
- a therapist whose licence expired before the session's date (the expiry day itself is valid);
- an active ``pregnancy`` precaution, or a ``pregnancy_due_date`` on or after the session's date,
  with a therapist lacking the ``prenatal`` certification (whatever the precaution's severity or
  clearance);
- an active ``cancer`` precaution with a therapist lacking the ``oncology`` certification.

What warns and does not block: a cleared absolute contraindication, an absolute precaution that
needs no clearance, a local precaution away from the session's regions, a relative precaution, a
referral past its ``valid_until``, more sessions than a referral authorizes, and a client without
an active ``treatment`` consent (completing such a session is refused by the session service; the
fact comes in with the client).

Blocks come first in a fixed order of rules, then by category and precaution; warnings likewise.
The result depends only on the facts, never on the order they were given in, and holds no
duplicates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

BODY_REGIONS: Final = (
    "head",
    "neck",
    "shoulders",
    "upper_back",
    "lower_back",
    "chest",
    "abdomen",
    "arms",
    "hands",
    "hips",
    "glutes",
    "legs",
    "knees",
    "feet",
)
PRECAUTION_CATEGORIES: Final = (
    "pregnancy",
    "cancer",
    "dvt",
    "anticoagulants",
    "recent_surgery",
    "skin_condition",
    "fever_infection",
    "cardiovascular",
    "osteoporosis",
    "disability",
    "allergy",
    "other",
)
PRECAUTION_SEVERITIES: Final = ("absolute", "local", "relative")
PRECAUTION_STATUSES: Final = ("active", "resolved")
CERTIFICATIONS: Final = (
    "prenatal",
    "oncology",
    "sports",
    "lymphatic_drainage",
    "medical_massage",
)
SESSION_TYPES: Final = (
    "therapeutic",
    "relaxation",
    "sports",
    "prenatal",
    "oncology",
    "lymphatic_drainage",
    "other",
)

LICENSE_CATEGORY: Final = "license"


class BlockCode(StrEnum):
    """Why a session may not take place; the declaration order is the order of ``blocking``."""

    ABSOLUTE_CONTRAINDICATION = "absolute_contraindication"
    LOCAL_CONTRAINDICATION = "local_contraindication"
    LICENSE_EXPIRED = "license_expired"
    PRENATAL_CERTIFICATION_REQUIRED = "prenatal_certification_required"
    ONCOLOGY_CERTIFICATION_REQUIRED = "oncology_certification_required"


class WarningCode(StrEnum):
    """What the therapist must know; the declaration order is the order of ``warnings``."""

    CLEARED_CONTRAINDICATION = "cleared_contraindication"
    ABSOLUTE_PRECAUTION = "absolute_precaution"
    LOCAL_PRECAUTION = "local_precaution"
    RELATIVE_PRECAUTION = "relative_precaution"
    REFERRAL_EXPIRED = "referral_expired"
    AUTHORIZED_SESSIONS_EXCEEDED = "authorized_sessions_exceeded"
    NO_TREATMENT_CONSENT = "no_treatment_consent"


_CATEGORY_LABELS: Final = {
    "pregnancy": "pregnancy",
    "cancer": "cancer",
    "dvt": "deep vein thrombosis",
    "anticoagulants": "anticoagulant medication",
    "recent_surgery": "recent surgery",
    "skin_condition": "skin condition",
    "fever_infection": "fever or infection",
    "cardiovascular": "cardiovascular condition",
    "osteoporosis": "osteoporosis",
    "disability": "disability",
    "allergy": "allergy",
    "other": "other condition",
}
_BLOCK_RANK: Final = {code: rank for rank, code in enumerate(BlockCode)}
_WARNING_RANK: Final = {code: rank for rank, code in enumerate(WarningCode)}
_REGION_RANK: Final = {region: rank for rank, region in enumerate(BODY_REGIONS)}


def _regions(value: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a collection of body regions, not a string")
    regions = frozenset(value)
    unknown = regions.difference(BODY_REGIONS)
    if unknown:
        raise ValueError(f"unknown body region(s) in {what}: {', '.join(sorted(unknown))}")
    return regions


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """``treatment_consent``: the client holds an active ``treatment`` consent."""

    pregnancy_due_date: dt.date | None
    treatment_consent: bool


@dataclass(frozen=True, slots=True)
class PrecautionFacts:
    """One of the client's precautions. ``cleared`` means a clearance has been recorded."""

    id: uuid.UUID
    category: str
    severity: str
    body_regions: frozenset[str]
    status: str
    requires_clearance: bool
    cleared: bool

    def __post_init__(self) -> None:
        # A misspelt value would silently skip a rule, so unknown values are refused outright.
        _one_of(self.category, PRECAUTION_CATEGORIES, "precaution category")
        _one_of(self.severity, PRECAUTION_SEVERITIES, "precaution severity")
        _one_of(self.status, PRECAUTION_STATUSES, "precaution status")
        object.__setattr__(
            self, "body_regions", _regions(self.body_regions, "the precaution's body regions")
        )

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class TherapistFacts:
    id: uuid.UUID
    license_expires_on: dt.date | None
    certifications: frozenset[str]

    def __post_init__(self) -> None:
        if isinstance(self.certifications, str):
            raise TypeError("certifications must be a collection, not a string")
        object.__setattr__(self, "certifications", frozenset(self.certifications))


@dataclass(frozen=True, slots=True)
class ReferralFacts:
    """A referral the session falls under.

    ``sessions_booked`` counts the non-cancelled sessions of the client's plans under this
    referral, the proposed one included.
    """

    id: uuid.UUID
    valid_until: dt.date | None
    authorized_sessions: int | None
    sessions_booked: int


@dataclass(frozen=True, slots=True)
class ProposedSession:
    """The session as it would be stored; ``start`` is a timezone-aware instant."""

    start: dt.datetime
    duration_minutes: int
    body_regions: frozenset[str]
    session_type: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("the session's start must be timezone-aware")
        _one_of(self.session_type, SESSION_TYPES, "session type")
        object.__setattr__(
            self, "body_regions", _regions(self.body_regions, "the session's body regions")
        )

    @property
    def date(self) -> dt.date:
        """The session's calendar date, in UTC."""
        return self.start.astimezone(dt.UTC).date()


@dataclass(frozen=True, slots=True)
class Block:
    """A reason the session may not take place; one item of a 409 ``blocking`` list."""

    code: str
    category: str
    reason: str
    precaution_id: uuid.UUID | None

    def as_problem_item(self) -> dict[str, object]:
        return {
            "precaution_id": None if self.precaution_id is None else str(self.precaution_id),
            "category": self.category,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Warning:
    """Something the therapist must know about a session that may take place."""

    code: str
    message: str
    precaution_id: uuid.UUID | None = None

    def as_dict(self) -> dict[str, object]:
        item: dict[str, object] = {"code": str(self.code), "message": self.message}
        if self.precaution_id is not None:
            item["precaution_id"] = str(self.precaution_id)
        return item


@dataclass(frozen=True, slots=True)
class Screening:
    blocking: tuple[Block, ...]
    warnings: tuple[Warning, ...]

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)


def screen_session(
    client: ClientFacts,
    precautions: Iterable[PrecautionFacts],
    therapist: TherapistFacts,
    session: ProposedSession,
    referrals: Iterable[ReferralFacts] = (),
) -> Screening:
    """Apply every rule of contract section 6 to a proposed session."""
    active = [precaution for precaution in precautions if precaution.active]
    blocking: list[Block] = []
    warnings: list[Warning] = []
    for precaution in active:
        _screen_precaution(precaution, session, blocking, warnings)
    blocking.extend(_screen_therapist(client, active, therapist, session))
    for referral in referrals:
        warnings.extend(_screen_referral(referral, session))
    if not client.treatment_consent:
        warnings.append(
            Warning(
                WarningCode.NO_TREATMENT_CONSENT,
                "The client has no active treatment consent: record it before the session; "
                "the session cannot be completed without it.",
            )
        )
    return Screening(
        blocking=tuple(sorted(set(blocking), key=_block_order)),
        warnings=tuple(sorted(set(warnings), key=_warning_order)),
    )


def _screen_precaution(
    precaution: PrecautionFacts,
    session: ProposedSession,
    blocking: list[Block],
    warnings: list[Warning],
) -> None:
    label = _category_label(precaution.category)
    if precaution.severity == "absolute":
        if not precaution.requires_clearance:
            warnings.append(
                Warning(
                    WarningCode.ABSOLUTE_PRECAUTION,
                    f"Absolute precaution ({label}) that needs no clearance: adapt the "
                    "treatment to the client's condition, or postpone it.",
                    precaution.id,
                )
            )
        elif precaution.cleared:
            warnings.append(
                Warning(
                    WarningCode.CLEARED_CONTRAINDICATION,
                    f"Absolute contraindication ({label}) cleared by the referring "
                    "professional: follow the clearance's instructions.",
                    precaution.id,
                )
            )
        else:
            blocking.append(
                Block(
                    BlockCode.ABSOLUTE_CONTRAINDICATION,
                    precaution.category,
                    f"Absolute contraindication ({label}) with no clearance recorded: no "
                    "massage until the referring professional clears it.",
                    precaution.id,
                )
            )
    elif precaution.severity == "local":
        overlap = precaution.body_regions & session.body_regions
        if overlap:
            blocking.append(
                Block(
                    BlockCode.LOCAL_CONTRAINDICATION,
                    precaution.category,
                    f"Local contraindication ({label}): the session includes the "
                    f"{_regions_text(overlap)}, which must not be treated.",
                    precaution.id,
                )
            )
        elif precaution.body_regions:
            warnings.append(
                Warning(
                    WarningCode.LOCAL_PRECAUTION,
                    f"Local precaution ({label}): avoid the "
                    f"{_regions_text(precaution.body_regions)}.",
                    precaution.id,
                )
            )
        else:
            warnings.append(
                Warning(
                    WarningCode.LOCAL_PRECAUTION,
                    f"Local precaution ({label}) with no body region recorded: ask the client "
                    "which areas to avoid.",
                    precaution.id,
                )
            )
    else:
        warnings.append(
            Warning(
                WarningCode.RELATIVE_PRECAUTION,
                f"Relative precaution ({label}): adapt pressure, positioning and techniques.",
                precaution.id,
            )
        )


def _screen_therapist(
    client: ClientFacts,
    active: list[PrecautionFacts],
    therapist: TherapistFacts,
    session: ProposedSession,
) -> list[Block]:
    blocking: list[Block] = []
    day = session.date
    expires_on = therapist.license_expires_on
    if expires_on is not None and expires_on < day:
        blocking.append(
            Block(
                BlockCode.LICENSE_EXPIRED,
                LICENSE_CATEGORY,
                f"The therapist's license expired on {expires_on.isoformat()}, before the "
                f"session on {day.isoformat()}.",
                None,
            )
        )

    if "prenatal" not in therapist.certifications:
        pregnancy = _first_of_category(active, "pregnancy")
        due = client.pregnancy_due_date
        due_applies = due is not None and due >= day
        if pregnancy is not None or due_applies:
            if due is not None and due_applies:
                why = f"The client is pregnant (due {due.isoformat()})"
            else:
                why = "The client has an active pregnancy precaution"
            blocking.append(
                Block(
                    BlockCode.PRENATAL_CERTIFICATION_REQUIRED,
                    "pregnancy",
                    f"{why}: only a therapist with the prenatal certification may give "
                    "this session.",
                    None if pregnancy is None else pregnancy.id,
                )
            )

    if "oncology" not in therapist.certifications:
        cancer = _first_of_category(active, "cancer")
        if cancer is not None:
            blocking.append(
                Block(
                    BlockCode.ONCOLOGY_CERTIFICATION_REQUIRED,
                    "cancer",
                    "The client has an active cancer precaution: only a therapist with the "
                    "oncology certification may give this session.",
                    cancer.id,
                )
            )
    return blocking


def _screen_referral(referral: ReferralFacts, session: ProposedSession) -> list[Warning]:
    warnings: list[Warning] = []
    day = session.date
    if referral.valid_until is not None and referral.valid_until < day:
        warnings.append(
            Warning(
                WarningCode.REFERRAL_EXPIRED,
                f"Referral {referral.id} expired on {referral.valid_until.isoformat()}, before "
                f"the session on {day.isoformat()}: ask the referring professional to renew it.",
            )
        )
    authorized = referral.authorized_sessions
    if authorized is not None and referral.sessions_booked > authorized:
        warnings.append(
            Warning(
                WarningCode.AUTHORIZED_SESSIONS_EXCEEDED,
                f"Referral {referral.id} authorizes {authorized} "
                f"session{'' if authorized == 1 else 's'}; this one would be number "
                f"{referral.sessions_booked}.",
            )
        )
    return warnings


def _first_of_category(active: list[PrecautionFacts], category: str) -> PrecautionFacts | None:
    """The active precaution of that category with the smallest id, so input order never matters."""
    matching = [precaution for precaution in active if precaution.category == category]
    return min(matching, key=lambda precaution: precaution.id.int, default=None)


def _category_label(category: str) -> str:
    return _CATEGORY_LABELS.get(category, category.replace("_", " "))


def _regions_text(regions: Iterable[str]) -> str:
    """Body regions in head-to-feet order, in words: "neck, lower back and legs"."""
    names = [
        region.replace("_", " ")
        for region in sorted(regions, key=lambda region: (_REGION_RANK.get(region, 99), region))
    ]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _block_order(block: Block) -> tuple[int, str, int, str]:
    precaution = -1 if block.precaution_id is None else block.precaution_id.int
    return (_BLOCK_RANK[BlockCode(block.code)], block.category, precaution, block.reason)


def _warning_order(warning: Warning) -> tuple[int, int, str]:
    precaution = -1 if warning.precaution_id is None else warning.precaution_id.int
    return (_WARNING_RANK[WarningCode(warning.code)], precaution, warning.message)
