"""When each VM's next delta cycle is due, and when no cycle may start (blackout windows).

Azure Migrate's agentless rule: the next delta cycle starts min(max(1 h, last cycle's duration / 2), 12 h)
after the last one ends, so a slow VM is not hammered and a fast one is never more than 12 h behind.
Blackout windows are per appliance, weekly, in UTC: no cycle starts inside one (a wave's initial replication
waits for its end) and a cutover is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleInvalid(ValueError):
    """A cycle rule or blackout window that cannot work; the message shows the accepted form."""


@dataclass(frozen=True)
class CycleRule:
    """The delta-cycle rule; the defaults are Azure Migrate's."""

    minimum: timedelta = timedelta(hours=1)
    maximum: timedelta = timedelta(hours=12)
    duration_factor: float = 0.5

    def __post_init__(self) -> None:
        if not timedelta(0) < self.minimum <= self.maximum:
            raise ScheduleInvalid(
                f"cycle rule: need 0 < minimum <= maximum, got minimum {self.minimum}, maximum {self.maximum}"
            )
        if self.duration_factor <= 0:
            raise ScheduleInvalid(f"cycle rule: duration_factor must be above 0, got {self.duration_factor}")

    def interval(self, last_cycle_duration: timedelta) -> timedelta:
        """Time between the end of the last cycle and the start of the next."""
        return min(max(self.minimum, last_cycle_duration * self.duration_factor), self.maximum)


def next_cycle_due(last_cycle_end: datetime, last_cycle_duration: timedelta, rule: CycleRule | None = None) -> datetime:
    """When the VM's next delta cycle should start."""
    return last_cycle_end + (rule or CycleRule()).interval(last_cycle_duration)


@dataclass(frozen=True)
class BlackoutWindow:
    """A weekly window (UTC) in which no cycle starts; `end <= start` runs past midnight into the next day."""

    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> BlackoutWindow:
        """`"sat,sun 00:00-23:59"`, `"mon-fri 22:00-06:00"` or `"daily 01:00-03:00"` (UTC)."""
        match = re.fullmatch(r"\s*(\S+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not match:
            raise ScheduleInvalid(f"blackout window {text!r}: expected DAYS HH:MM-HH:MM, e.g. 'mon-fri 22:00-06:00'")
        days_text, start_h, start_m, end_h, end_m = match.groups()
        try:
            start, end = time(int(start_h), int(start_m)), time(int(end_h), int(end_m))
        except ValueError as error:
            raise ScheduleInvalid(f"blackout window {text!r}: {error}") from None
        if start == end:
            raise ScheduleInvalid(f"blackout window {text!r}: start and end are the same time")
        return cls(_parse_days(days_text, text), start, end)

    def contains(self, moment: datetime) -> bool:
        moment = moment.astimezone(UTC)
        clock, day = moment.time(), moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= clock < self.end
        previous_day = (day - 1) % 7
        return (day in self.days and clock >= self.start) or (previous_day in self.days and clock < self.end)


    def end_after(self, moment: datetime) -> datetime:
        """The end of this window's occurrence that holds `moment` (which it must contain)."""
        moment = moment.astimezone(UTC)
        day = moment.date()
        if self.end <= self.start and moment.time() >= self.start:  # past midnight: it ends tomorrow
            day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=UTC)


def in_blackout(moment: datetime, windows: Iterable[BlackoutWindow]) -> bool:
    return any(window.contains(moment) for window in windows)


def blackout_end(moment: datetime, windows: Sequence[BlackoutWindow]) -> datetime | None:
    """When the blackout holding `moment` ends, windows that touch counting as one; None when none holds it."""
    end = None
    for _ in range(7 * len(windows) + 1):
        holding = [window for window in windows if window.contains(moment)]
        if not holding:
            return end
        moment = end = max(window.end_after(moment) for window in holding)
    raise ScheduleInvalid("the blackout windows cover the whole week: nothing could ever replicate")


@dataclass(frozen=True)
class CycleRecord:
    """What the scheduler knows of one VM: its appliance and its last finished cycle (None before the first)."""

    vm: str
    appliance: str
    last_cycle_end: datetime | None
    last_cycle_duration: timedelta | None


def due_vms(
    records: Sequence[CycleRecord],
    now: datetime,
    rule: CycleRule | None = None,
    blackouts: Mapping[str, Sequence[BlackoutWindow]] | None = None,
) -> list[str]:
    """VMs whose next delta cycle is due now and whose appliance is not in a blackout, most overdue first.

    A VM without a finished cycle is left to its initial replication, which the wave flow runs.
    """
    due: list[tuple[datetime, str]] = []
    for record in records:
        if record.last_cycle_end is None or record.last_cycle_duration is None:
            continue
        at = next_cycle_due(record.last_cycle_end, record.last_cycle_duration, rule)
        if at <= now and not in_blackout(now, (blackouts or {}).get(record.appliance, ())):
            due.append((at, record.vm))
    return [vm for _, vm in sorted(due)]


def _parse_days(days_text: str, text: str) -> frozenset[int]:
    if days_text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in days_text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ScheduleInvalid(f"blackout window {text!r}: days are {', '.join(WEEKDAYS)}, ranges like mon-fri, "
                                  f"or 'daily'")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)
