"""When delta cycles are due, and blackout windows in which none starts."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest

from tasks.delta import due_cycles
from vmshift.schedule import (
    BlackoutWindow,
    CycleRecord,
    CycleRule,
    ScheduleInvalid,
    blackout_end,
    due_vms,
    next_cycle_due,
)
from vmshift.state.document import Claim, CycleInProgress, LastCycle, VmState
from vmshift.state.status import status_rows

END = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(("duration", "interval"), [
    (timedelta(minutes=10), timedelta(hours=1)),  # short cycles: at least an hour apart
    (timedelta(hours=6), timedelta(hours=3)),  # half the last cycle's duration
    (timedelta(hours=30), timedelta(hours=12)),  # never more than 12 h behind
])
def test_next_cycle_follows_azure_migrates_rule(duration: timedelta, interval: timedelta) -> None:
    assert next_cycle_due(END, duration) == END + interval


def test_the_rule_is_configurable() -> None:
    rule = CycleRule(minimum=timedelta(minutes=15), maximum=timedelta(hours=2))
    assert next_cycle_due(END, timedelta(minutes=5), rule) == END + timedelta(minutes=15)
    with pytest.raises(ScheduleInvalid, match="minimum <= maximum"):
        CycleRule(minimum=timedelta(hours=3), maximum=timedelta(hours=2))


def test_due_vms_are_those_past_their_time_most_overdue_first() -> None:
    records = [
        CycleRecord("web-rhel-02", "appl-1", END, timedelta(minutes=5)),  # due at 11:00
        CycleRecord("app-linux-01", "appl-1", END - timedelta(hours=2), timedelta(minutes=5)),  # due at 09:00
        CycleRecord("win-sql-01", "appl-1", END, timedelta(hours=8)),  # due at 14:00
        CycleRecord("win-iis-03", "appl-1", None, None),  # initial replication still running
    ]
    assert due_vms(records, END + timedelta(hours=1)) == ["app-linux-01", "web-rhel-02"]


def test_no_cycle_starts_in_the_appliances_blackout() -> None:
    records = [CycleRecord("app-linux-01", "appl-1", END, timedelta(minutes=5)),
               CycleRecord("win-sql-01", "appl-2", END, timedelta(minutes=5))]
    blackouts = {"appl-1": [BlackoutWindow.parse("mon 10:30-12:00")]}
    assert due_vms(records, END + timedelta(hours=1), blackouts=blackouts) == ["win-sql-01"]
    assert due_vms(records, END + timedelta(hours=2), blackouts=blackouts) == ["app-linux-01", "win-sql-01"]


def test_a_window_past_midnight_covers_the_next_morning() -> None:
    window = BlackoutWindow.parse("fri 22:00-06:00")
    assert window.contains(datetime(2026, 11, 27, 23, 0, tzinfo=UTC))  # Friday night
    assert window.contains(datetime(2026, 11, 28, 5, 59, tzinfo=UTC))  # Saturday morning
    assert not window.contains(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    assert not window.contains(datetime(2026, 11, 27, 5, 0, tzinfo=UTC))  # Friday morning: Thursday is not listed


def test_a_blackout_ends_when_no_window_holds_any_more_touching_windows_counting_as_one() -> None:
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    windows = [BlackoutWindow.parse("fri 22:00-06:00"), BlackoutWindow.parse("sat 06:00-08:30")]
    assert blackout_end(friday_night, windows) == datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    assert blackout_end(friday_night, windows[:1]) == datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert blackout_end(datetime(2026, 11, 28, 5, 0, tzinfo=UTC), windows[:1]) == datetime(2026, 11, 28, 6, 0,
                                                                                         tzinfo=UTC)
    assert blackout_end(datetime(2026, 11, 28, 9, 0, tzinfo=UTC), windows) is None
    with pytest.raises(ScheduleInvalid, match="whole week"):
        blackout_end(friday_night, [BlackoutWindow.parse(text) for text in ("daily 00:00-12:00", "daily 12:00-00:00")])


def test_day_ranges_and_daily() -> None:
    assert BlackoutWindow.parse("sat-mon 01:00-02:00").days == frozenset({5, 6, 0})
    assert BlackoutWindow.parse("daily 01:00-02:00").days == frozenset(range(7))


@pytest.mark.parametrize("text", ["weekends 01:00-02:00", "mon 25:00-26:00", "mon 01:00", "mon 01:00-01:00"])
def test_bad_windows_are_refused_with_the_accepted_form(text: str) -> None:
    with pytest.raises(ScheduleInvalid, match="blackout window"):
        BlackoutWindow.parse(text)


def test_the_status_table_shows_when_each_vm_is_next_due() -> None:
    last = LastCycle(cycle=3, kind="delta", finished_at=END, seconds=4 * 3600, bytes_sent=1, changed_bytes=1)
    states = {"app-linux-01": ("vmshiftcache01", VmState(vm="app-linux-01", phase="protected", cycles=3,
                                                          last_cycle=last)),
              "win-iis-03": ("vmshiftcache01", VmState(vm="win-iis-03", phase="failed", error="403 from blob"))}
    rows = {row["vm"]: row for row in status_rows(states, CycleRule())}
    assert rows["app-linux-01"]["next_cycle_due"] == (END + timedelta(hours=2)).isoformat()
    assert rows["win-iis-03"]["next_cycle_due"] == "" and rows["win-iis-03"]["error"] == "403 from blob"


def test_the_status_table_shows_how_far_a_cycle_in_flight_got() -> None:
    flight = CycleInProgress(cycle=4, kind="delta", started_at=END, percent_done=62.4)
    states = {"db-01": ("vmshiftcache01", VmState(vm="db-01", phase="replicating", in_progress=flight))}
    assert status_rows(states, CycleRule())[0]["cycle_in_progress"] == "delta 4, 62% done"


def test_a_cycle_whose_run_died_without_saying_so_is_due_again_and_a_running_one_is_not() -> None:
    last = LastCycle(cycle=1, kind="initial", finished_at=END, seconds=60, bytes_sent=1, changed_bytes=1)

    def replicating(pid: int) -> VmState:  # a cycle killed, or whose failure could not be saved
        claim = Claim(run_id="r", host=socket.gethostname(), pid=pid, heartbeat_at=END)
        return VmState(vm="db-01", phase="replicating", last_cycle=last,
                       in_progress=CycleInProgress(cycle=2, kind="delta", started_at=END, claim=claim))
    now = END + timedelta(hours=2)
    dead = 2**22 - 3  # no such process
    assert due_cycles.fn({"db-01": ("vmshiftcache01", replicating(dead))}, "appl", CycleRule(), [], now) == ["db-01"]
    assert due_cycles.fn({"db-01": ("vmshiftcache01", replicating(os.getpid()))}, "appl", CycleRule(), [], now) == []
