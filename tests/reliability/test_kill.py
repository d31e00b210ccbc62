"""kill -9 of the process running a wave's flow at the moments a team fears, then the step run again:
the wave completes, no source snapshot is left, each Azure resource exists once, the disks are equal byte for
byte; a cutover killed after the source's shutdown finishes, or leaves the source running — never neither."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from wave_runs import CACHE, kill_when, outcomes, run_step, start_step, target_resources

from vmshift.lab.guest import write_guest
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import DEFAULT_CONTAINER, StateStore
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

pytestmark = pytest.mark.lab
MIB = 1 << 20


def vcenter():
    return connect(VCenterConfig.from_env())


def own_snapshots(vm: str) -> list:
    return snapshots.find_snapshots(inventory.find_vm(vcenter(), vm), OWN_SNAPSHOT_PREFIX)


def cycle_in_flight(vm: str) -> bool:
    store = StateStore(blob_service_client(CACHE).get_container_client(DEFAULT_CONTAINER))
    return store.load(vm).state.in_progress is not None


def assert_migrated_once(vm: str, cutover: dict) -> None:
    row = cutover["vms"][0]
    assert row["outcome"] == "migrated", row
    assert row["verified"] and all(disk["equal"] for disk in row["disks"])
    assert own_snapshots(vm) == []
    assert set(target_resources(vm).values()) == {1}, target_resources(vm)


@pytest.mark.parametrize(("vm", "moment"), [("rel-kill-01", "cycle in flight"), ("rel-kill-02", "snapshot taken")])
def test_kill_9_during_initial_replication_then_the_wave_completes(
    lab: dict, step_env: dict[str, str], tmp_path: Path, vm: str, moment: str
) -> None:
    for offset in range(0, 8 * MIB, MIB):  # allocated data, so that the copy takes a while
        write_guest(lab, vm, offset, os.urandom(MIB))
    child = start_step("replicate", [vm], step_env, tmp_path / "killed.log")
    session = vcenter()
    source = inventory.find_vm(session, vm)
    seen = (lambda: cycle_in_flight(vm)) if moment == "cycle in flight" \
        else (lambda: bool(snapshots.find_snapshots(source, OWN_SNAPSHOT_PREFIX)))
    kill_when(child, seen, moment)

    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "again.log")) == {vm: "protected"}
    assert own_snapshots(vm) == []
    assert_migrated_once(vm, run_step("cutover", [vm], step_env, tmp_path / "cutover.log"))


def test_kill_9_during_a_cutover_after_the_source_shutdown_then_it_finishes_or_the_source_runs(
    lab: dict, step_env: dict[str, str], tmp_path: Path
) -> None:
    vm = "rel-cut-01"
    write_guest(lab, vm, 0, os.urandom(MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
    child = start_step("cutover", [vm], step_env, tmp_path / "killed.log")
    source = inventory.find_vm(vcenter(), vm)
    kill_when(child, lambda: source.runtime.powerState == "poweredOff", "the source's shutdown")

    again = run_step("cutover", [vm], step_env, tmp_path / "again.log")
    power = inventory.find_vm(vcenter(), vm).runtime.powerState
    if again["vms"][0]["outcome"] == "migrated":
        assert_migrated_once(vm, again)
    else:  # not finished: then the source must run again, with no target VM
        assert power == "poweredOn", f"source {vm} left {power} after: {again['vms'][0]}"
        assert vm not in target_resources(vm)
