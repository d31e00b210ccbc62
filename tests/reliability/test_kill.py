"""kill -9 of the process running a wave's flow at the moments a team fears, then the step run again:
the wave completes, no source snapshot is left, each Azure resource exists once, the disks are equal byte for
byte; a cutover killed after the source's shutdown finishes, or leaves the source running — never neither."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from wave_runs import (
    CACHE,
    assert_disks_verified,
    kill_when,
    outcomes,
    run_step,
    source_power,
    start_step,
    target_resources,
)

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.settings import open_clients
from vmshift.replication.verify import verify_vm
from vmshift.state.document import DiskCheckpoint
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

pytestmark = pytest.mark.lab
MIB = 1 << 20
# The appliance's own throttle, so that an upload of a few MiB lasts long enough to be killed in the middle:
# one write in flight, each 4 MiB write a second apart.
SLOW_UPLOAD = {"VMSHIFT_BANDWIDTH_MB_S": "4", "VMSHIFT_REPLICATION_CONCURRENCY": "1"}
POWERED_ON_AGAIN = "powered on again"  # in the row's error when the cutover started the source again


def own_snapshots(vm: str) -> list:
    return snapshots.find_snapshots(inventory.find_vm(connect(VCenterConfig.from_env()), vm), OWN_SNAPSHOT_PREFIX)


def states() -> StateStore:
    return StateStore.for_account(CACHE)


def cycle_claimed(vm: str) -> Callable[[], bool]:
    store = states()
    return lambda: store.load(vm).state.in_progress is not None


def snapshot_taken(vm: str) -> Callable[[], bool]:
    source = inventory.find_vm(connect(VCenterConfig.from_env()), vm)
    return lambda: bool(snapshots.find_snapshots(source, OWN_SNAPSHOT_PREFIX))


def bytes_uploaded(vm: str) -> Callable[[], bool]:
    """The cycle's checkpoints say some of a disk's writes reached the replica and others did not yet."""
    store = states()

    def uploaded() -> bool:
        cycle = store.load(vm).state.in_progress
        return cycle is not None and any(c.resume_offset > 0 and not c.finished for c in cycle.checkpoints.values())
    return uploaded


def assert_migrated_once(vm: str, cutover: dict) -> None:
    row = cutover["vms"][0]
    assert row["outcome"] == "migrated", row
    assert_disks_verified(vm, row)
    assert own_snapshots(vm) == []
    assert set(target_resources(vm).values()) == {1}, target_resources(vm)


KILLS: dict[str, tuple[str, Callable[[str], Callable[[], bool]], dict[str, str]]] = {
    # moment → (what it is, a watch for it on a VM, the step's extra environment)
    "claimed": ("the cycle's claim saved, before its snapshot", cycle_claimed, {}),
    "snapshot": ("the cycle's vSphere snapshot taken", snapshot_taken, {}),
    "mid-upload": ("part of the disk uploaded", bytes_uploaded, SLOW_UPLOAD),
}


@pytest.mark.parametrize(("vm", "moments", "resent_at_most"), [
    # Killed twice: before its snapshot, then in the middle of the upload; the rerun sends only what is left.
    pytest.param("rel-kill-01", ("claimed", "mid-upload"), 4 * MIB, id="claimed-then-mid-upload"),
    pytest.param("rel-kill-02", ("snapshot",), 8 * MIB, id="snapshot-taken"),
])
def test_kill_9_during_initial_replication_then_the_wave_completes(
    lab: dict, step_env: dict[str, str], tmp_path: Path, vm: str, moments: tuple[str, ...], resent_at_most: int
) -> None:
    for offset in range(0, 8 * MIB, MIB):  # allocated data, so that the copy takes a while
        write_guest(lab, vm, offset, os.urandom(MIB))
    for moment in moments:
        what, watch, extra_env = KILLS[moment]
        come = watch(vm)
        child = start_step("replicate", [vm], step_env | extra_env, tmp_path / f"killed-{moment}.log")
        kill_when(child, come, what)

    again = run_step("replicate", [vm], step_env, tmp_path / "again.log")
    assert outcomes(again) == {vm: "protected"}
    assert again["vms"][0]["bytes_sent"] <= resent_at_most, again
    assert own_snapshots(vm) == []
    assert verify_vm(vm, settings=ReplicationSettings.from_env(CACHE))["equal"]
    assert_migrated_once(vm, run_step("cutover", [vm], step_env, tmp_path / "cutover.log"))


def test_kill_9_after_the_source_shutdown_then_a_failed_or_refused_rerun_starts_the_source_and_a_good_one_finishes(
    lab: dict, step_env: dict[str, str], tmp_path: Path
) -> None:
    vm = "rel-cut-01"
    write_guest(lab, vm, 0, os.urandom(MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}

    source = inventory.find_vm(connect(VCenterConfig.from_env()), vm)

    def killed_after_the_shutdown(log: Path) -> None:
        child = start_step("cutover", [vm], step_env, log)
        kill_when(child, lambda: source.runtime.powerState == "poweredOff", "the source's shutdown")

    faults = lab["arm"]["endpoint"].rstrip("/") + "/_lab/faults"
    killed_after_the_shutdown(tmp_path / "killed-1.log")
    # Every disk import and frozen copy throttled until azure-core's retries are spent: the rerun fails, wherever
    # the kill caught the first run (before its disk import, or after it, before the frozen copies).
    throttled = {"next": [{"operation": f"PUT .*/(disks|snapshots)/{vm}-", "count": 1000, "status": 429}],
                 "retry_after": 0.05}
    assert requests.post(faults, json=throttled, verify=lab["ca_file"], timeout=10).ok
    try:
        failed = run_step("cutover", [vm], step_env, tmp_path / "import-failing.log")
    finally:
        requests.post(faults, json={}, verify=lab["ca_file"], timeout=10)
    row = failed["vms"][0]
    assert row["outcome"] == "failed" and POWERED_ON_AGAIN in row["error"], row
    assert source_power(vm) == "poweredOn", row
    assert target_resources(vm) == Counter()

    killed_after_the_shutdown(tmp_path / "killed-2.log")
    refused = run_step("cutover", [vm], step_env, tmp_path / "window-closed.log", window_open=False)
    row = refused["vms"][0]
    assert row["outcome"] == "refused" and "window" in row["error"] and POWERED_ON_AGAIN in row["error"], row
    assert source_power(vm) == "poweredOn", row
    assert target_resources(vm) == Counter()

    killed_after_the_shutdown(tmp_path / "killed-3.log")
    assert_migrated_once(vm, run_step("cutover", [vm], step_env, tmp_path / "again.log"))
    assert source_power(vm) == "poweredOff"


def proof_under_way(vm: str) -> Callable[[], bool]:
    """The post-cutover verification has proven part of the disk, not all of it."""
    store = states()

    def under_way() -> bool:
        record = store.load(vm).state.cutover
        return record is not None and any(p.proven.resume_offset > 8 * MIB and not p.proven.finished
                                          for p in record.disks.values())
    return under_way


def test_kill_9_during_the_post_cutover_verification_then_a_rerun_finishes_it_without_reading_again(
    lab: dict, step_env: dict[str, str], tmp_path: Path
) -> None:
    vm = "rel-proof-01"
    for offset in range(0, 192 * MIB, 4 * MIB):  # data enough that the proof takes a while, piece by piece
        write_guest(lab, vm, offset, os.urandom(4 * MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
    replica = ReplicationSettings.from_env(CACHE)
    key = next(iter(states().load(vm).state.disks))
    blob = open_clients(replica).replica(vm, key).blob
    blob.upload_page(bytes(511) + b"\x01", offset=MIB, length=512)  # at rest, early in the disk: found before the kill
    # A cycle that does not write there takes the recovery point the cutover stages its disk from, flip included.
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate-again.log")) == {vm: "protected"}

    child = start_step("cutover", [vm], step_env | {"VMSHIFT_REPLICATION_CONCURRENCY": "1"}, tmp_path / "killed.log")
    kill_when(child, proof_under_way(vm), "the verification's first checkpoints")
    killed = states().load(vm).state.cutover
    proven_before = sum(p.bytes_read for p in killed.disks.values())
    assert killed.verification == "pending" and any(p.mismatches for p in killed.disks.values())

    again = run_step("verify", [vm], step_env, tmp_path / "again.log")
    [row] = again["vms"]
    assert row["verification"] == "failed" and row["disks"][0]["first_difference"] == MIB, row
    # Nothing proven before the kill was read again: this run read the rest, and the total is the disk's data.
    assert row["bytes_read"] == row["post_verify_bytes"] - proven_before > 0, (row, proven_before)
    assert row["post_verify_bytes"] >= 192 * MIB

    # The same result as one uninterrupted verification of the same frozen copies.
    fresh = killed.model_copy(update={"verification": "pending", "disks": {
        k: p.model_copy(update={"proven": DiskCheckpoint(), "mismatches": [], "bytes_read": 0, "seconds": 0.0})
        for k, p in killed.disks.items()}})
    stored = states().load(vm)
    stored.state.cutover = fresh
    states().save(stored)
    whole = run_step("verify", [vm], step_env, tmp_path / "whole.log")["vms"][0]
    assert (whole["verification"], whole["disks"], whole["post_verify_bytes"]) == \
        (row["verification"], [{**d, "seconds": whole["disks"][0]["seconds"]} for d in row["disks"]],
         row["post_verify_bytes"])
    assert whole["bytes_read"] == whole["post_verify_bytes"]
