"""Which recovery point a test migration starts from: the latest (the default), a cycle, or a moment.

`vmshift test-migrate --recovery-point` and the test-migrate flow's parameter take the same text:

- `latest`: the last finished cycle;
- `cycle:12` (or `12`): the point cycle 12 left;
- an ISO 8601 time with a time zone, `2031-01-16T08:00:00Z`: the last point whose source snapshot was taken at or
  before that time (the state of the guest then), as Azure Migrate's "choose a recovery point" lists them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from vmshift.plan.columns import CellInvalid, parse_time

RECOVERY_POINT_ALLOWED = ("latest, a cycle number (cycle:12 or 12), or an ISO 8601 time with a time zone "
                          "(2031-01-16T08:00:00Z)")


class RecoveryPointInvalid(ValueError):
    """The recovery point asked for is not written as one, or the VM has no such point; the message says which
    points there are."""


class PointInTime(Protocol):
    """What a choice needs of a recovery point (vmshift.state.document.RecoveryPoint has it)."""

    cycle: int
    created_at: datetime
    source_snapshot_time: datetime | None


Point = TypeVar("Point", bound=PointInTime)


@dataclass(frozen=True)
class RecoveryPointChoice:
    """`latest`, or one cycle, or the point in force at a moment."""

    cycle: int | None = None
    at: datetime | None = None

    @property
    def latest(self) -> bool:
        return self.cycle is None and self.at is None

    def __str__(self) -> str:
        if self.cycle is not None:
            return f"cycle:{self.cycle}"
        return self.at.isoformat() if self.at else "latest"

    def choose(self, points: Sequence[Point], vm: str) -> Point:
        """The recovery point of `points` (oldest first, as the state document keeps them) this choice names."""
        if not points:
            raise RecoveryPointInvalid(f"{vm} has no recovery point yet: its initial replication has not finished")
        if self.cycle is not None:
            chosen = next((point for point in points if point.cycle == self.cycle), None)
        elif self.at is not None:
            chosen = next((point for point in reversed(points) if taken_at(point) <= self.at), None)
        else:
            chosen = points[-1]
        if chosen is None:
            raise RecoveryPointInvalid(f"{vm} has no recovery point {self}; its points: {_listed(points)}")
        return chosen


def taken_at(point: PointInTime) -> datetime:
    """When the guest was in the state a point holds: its source snapshot (older documents: the cycle's end)."""
    return point.source_snapshot_time or point.created_at


def parse_recovery_point(text: str | None) -> RecoveryPointChoice:
    """A choice from its text (None or empty: latest); RecoveryPointInvalid says what is allowed."""
    text = (text or "").strip()
    if not text or text.lower() == "latest":
        return RecoveryPointChoice()
    number = re.fullmatch(r"(?:cycle:)?(\d{1,9})", text, re.IGNORECASE)
    if number:
        return RecoveryPointChoice(cycle=int(number.group(1)))
    try:
        return RecoveryPointChoice(at=parse_time(text))
    except CellInvalid as exc:
        raise RecoveryPointInvalid(f"{exc}; allowed: {RECOVERY_POINT_ALLOWED}") from None


def _listed(points: Sequence[PointInTime]) -> str:
    shown = [f"cycle:{point.cycle} ({taken_at(point).isoformat(timespec='seconds')})" for point in points[-5:]]
    return ("..., " if len(points) > 5 else "") + ", ".join(shown)
