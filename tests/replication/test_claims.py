"""A cycle's claim on its VM: a second run is refused while the first is live, except a later attempt of the same
flow run (its appliance was lost and the run was scheduled again on another machine)."""

from __future__ import annotations

import datetime as dt

import pytest

from vmshift.replication.hygiene import ReplicationInProgress, check_no_other_run
from vmshift.state.document import Claim, CycleInProgress, VmState


def claimed_on_another_machine(owner: str) -> VmState:
    now = dt.datetime.now(dt.UTC)
    claim = Claim(run_id="c0ffee", host="appliance-lost.example", pid=4242, heartbeat_at=now, owner=owner)
    return VmState(vm="web-01", in_progress=CycleInProgress(cycle=1, kind="initial", started_at=now, claim=claim))


def test_the_rerun_of_a_lost_flow_run_takes_its_claim_over_at_once() -> None:
    check_no_other_run(claimed_on_another_machine("flow-run-1"), owner="flow-run-1")


@pytest.mark.parametrize("owner", ["flow-run-2", ""])
def test_any_other_run_is_refused_while_the_claims_heartbeat_is_recent(owner: str) -> None:
    with pytest.raises(ReplicationInProgress, match="web-01 is being replicated by run c0ffee"):
        check_no_other_run(claimed_on_another_machine("flow-run-1"), owner=owner)


def test_a_claim_without_an_owner_is_never_taken_over() -> None:
    with pytest.raises(ReplicationInProgress):
        check_no_other_run(claimed_on_another_machine(""), owner="")
