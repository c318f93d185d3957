from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.errors import AppError


class Contraindicated(AppError):
    """The screening blocks the session; `blocking` lists why."""

    status = 409
    slug = "contraindicated"
    title = "Contraindicated"

    def __init__(
        self, blocking: Sequence[dict[str, Any]], warnings: Sequence[dict[str, Any]] = ()
    ) -> None:
        reasons = "; ".join(str(b["reason"]) for b in blocking)
        super().__init__(
            f"The session cannot go ahead as planned: {reasons}",
            blocking=list(blocking),
            warnings=list(warnings),
        )


class TherapistUnavailable(AppError):
    """The therapist already has a non-cancelled session overlapping the proposed time."""

    status = 409
    slug = "therapist-unavailable"
    title = "Therapist unavailable"


class NoteSigned(AppError):
    """The note is signed and never changes again; corrections are addenda."""

    status = 409
    slug = "note-signed"
    title = "Note signed"

    def __init__(self) -> None:
        super().__init__(
            "The session's note is signed and can no longer change; add an addendum instead"
        )
