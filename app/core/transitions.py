"""Status machines as data: a table of allowed moves, checked in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.core.errors import InvalidTransition


@dataclass(frozen=True)
class StatusMachine:
    """`moves[a]` is the set of statuses reachable from `a`; `from_any` are reachable from all.

    Staying in the same status is not a move and is always allowed.
    """

    resource: str
    moves: Mapping[str, frozenset[str]]
    from_any: frozenset[str] = field(default_factory=frozenset)

    def allows(self, current: str, target: str) -> bool:
        return (
            current == target
            or target in self.from_any
            or target in self.moves.get(current, frozenset())
        )

    def check(self, current: str, target: str) -> None:
        if not self.allows(current, target):
            allowed = sorted(self.moves.get(current, frozenset()) | self.from_any)
            raise InvalidTransition(
                f"A {self.resource} cannot move from {current!r} to {target!r}; "
                f"allowed from {current!r}: {', '.join(allowed) or 'nothing'}",
                current_status=current,
                allowed_statuses=allowed,
            )
