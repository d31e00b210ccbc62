"""What `vmshift status` shows of one VM's state document."""

from __future__ import annotations

import datetime as dt

from vmshift.state.document import CycleInProgress, LastCycle, VmState
from vmshift.state.status import vm_status


def test_a_cycle_in_flight_shows_how_far_it_got() -> None:
    state = VmState(vm="db-01", phase="replicating", in_progress=CycleInProgress(
        cycle=1, kind="initial", started_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC), bytes_sent=3 << 20,
        percent_done=37.5))
    assert vm_status(state)["in_progress"] == {"cycle": 1, "kind": "initial", "bytes_sent": 3 << 20,
                                               "percent_done": 37.5}


def test_a_stopped_vm_is_not_scheduled_for_delta_cycles_where_a_failed_one_is() -> None:
    last = LastCycle(cycle=2, kind="delta", finished_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC), seconds=60,
                     bytes_sent=1 << 20, changed_bytes=1 << 20)
    stopped = vm_status(VmState(vm="db-01", phase="stopped", last_cycle=last, error="CycleStopped: on request"))
    failed = vm_status(VmState(vm="db-01", phase="failed", last_cycle=last, error="ConnectionResetError"))
    assert (stopped["phase"], stopped["next_cycle_due"], stopped["error"]) == ("stopped", None,
                                                                              "CycleStopped: on request")
    assert failed["next_cycle_due"] is not None
