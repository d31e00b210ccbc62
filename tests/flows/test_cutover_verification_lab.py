"""On the lab, through the flows: the outage holds the shutdown, the final delta with a read-back of its ranges only,
the disk import, frozen copies and the VM's creation; the migrated disks are proven whole once the VM runs.

A byte that differs outside the final delta's ranges is found after the VM runs, named by disk and offset, with the
VM left running and complete-migration refused; one inside them is caught inside the outage, and no VM is built.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from local_steps import EXAMPLE_PLAN, latest_artifact

import vmshift.replication.disk_cycle
from flows.complete_migration import complete_migration
from flows.cutover import cutover
from flows.rollback import rollback
from flows.verify_cutover import verify_cutover
from vmshift.azure.clients import connect as connect_azure
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.migration.source import VSphereSourceVm
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.plan.validation import validate_plan
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.settings import open_clients
from vmshift.state.lifecycle import Step
from vmshift.vsphere import inventory
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness", "cache_reached_privately")]

CACHE = "vmshiftcache01"
SETTINGS = ReplicationSettings(CACHE)
MIB = 1 << 20
CHUNK = 64 << 10


def wave_of(vm: str) -> Wave:
    """The example plan's web-rhel-02 row (Linux, one disk) for a lab VM, its cutover window open now."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    template = next(row for row in plan.waves[0].vms if row.source_vm == "web-rhel-02")
    row = dataclasses.replace(template, source_vm=vm, target_vm_name=vm, nics=(), cutover_window=window,
                              application_group=None, cache_storage_account=CACHE)
    return dataclasses.replace(plan.waves[0], name=f"wave-{vm}", vms=(row,), cutover_window=window)


def replicated(lab: dict, vm: str, data_mib: int) -> int:
    """The VM's disk holding `data_mib` of random data, replicated; returns its disk key."""
    for offset in range(0, data_mib * MIB, 4 * MIB):
        write_guest(lab, vm, offset, os.urandom(min(4 * MIB, data_mib * MIB - offset)))
    replicate_once(vm, session=connect(VCenterConfig.from_env()), settings=SETTINGS)
    return int(next(iter(open_clients(SETTINGS).store.load(vm).state.disks)))


def cut_over(wave: Wave) -> tuple[str, dict]:
    """The cutover flow's final state and what it returned (a failed run returns its result too)."""
    async def run() -> tuple[str, dict]:
        state = await cutover(wave, appliance=Appliance(), skip_test_migration=True, shutdown_timeout_s=5,
                              return_state=True)
        return state.type.value, await state.aresult(raise_on_failure=False)
    return asyncio.run(run())


def power_state(vm: str) -> str:
    return inventory.find_vm(connect(VCenterConfig.from_env()), vm).runtime.powerState


def flip_byte(vm: str, key: int, offset: int) -> None:
    """One byte of the replica changed at rest, behind the mover's back."""
    blob = open_clients(SETTINGS).replica(vm, str(key)).blob
    sector = offset - offset % 512
    data = bytearray(blob.download_blob(offset=sector, length=512).readall())
    data[offset - sector] ^= 0xFF
    blob.upload_page(bytes(data), offset=sector, length=512)


def test_the_outage_reads_only_the_final_delta_and_the_disks_are_proven_once_the_vm_runs(lab: dict) -> None:
    vm = "flow-proof-01"
    replicated(lab, vm, 32)
    wave = wave_of(vm)
    for block in (3, 17, 40):  # the final delta: three scattered 64 KiB blocks
        write_guest(lab, vm, block * MIB, os.urandom(CHUNK))

    state, result = cut_over(wave)

    [row] = result["vms"]
    assert state == "COMPLETED" and row["outcome"] == "migrated" and row["verification"] == "passed", row
    steps = {step["name"]: step for step in row["steps"]}
    # The disk was built from the recovery point before the shutdown; the outage wrote the final delta into it.
    assert list(steps) == ["shutdown", "final delta", "range check", "staged disks", "frozen copies", "VM creation"]
    os_disk = connect_azure().compute.disks.get("rg-target", f"{vm}-osdisk")
    assert os_disk.creation_data.create_option == "Upload", os_disk.creation_data
    assert row["staging"]["name"] == "disks staged from recovery point 1"
    assert 32 * MIB <= row["staging"]["bytes"] <= 33 * MIB  # the recovery point's pages, not the disk's 64 MiB
    # The downtime is its steps: nothing else runs inside the outage.
    assert abs(row["downtime_s"] - sum(step["seconds"] for step in row["steps"])) <= 0.1 * row["downtime_s"], row
    # Inside the outage, only what the final delta changed is read back; the whole disk is read after the VM runs.
    assert steps["final delta"]["bytes"] == 3 * CHUNK
    assert 3 * CHUNK <= steps["range check"]["bytes"] <= 1.1 * 3 * CHUNK  # the chunks, and their manifest pages
    assert row["post_verify_bytes"] >= 32 * MIB and row["disks"][0]["first_difference"] is None
    # Only the pages the disk holds are read: the 32 MiB written and the final delta's block at 40 MiB, with a
    # margin for chunk rounding. A read of the unallocated space as well would be the disk's 64 MiB.
    assert row["post_verify_bytes"] <= 32 * MIB + CHUNK + MIB, row
    record = open_clients(SETTINGS).store.load(vm).state.cutover
    assert record.verification == "passed" and record.downtime_s == row["downtime_s"]
    for proof in record.disks.values():  # the frozen copies are gone once they served
        with pytest.raises(ResourceNotFoundError):
            connect_azure().compute.snapshots.get("rg-target", proof.snapshot)

    completed = asyncio.run(complete_migration(wave))
    assert [r["outcome"] for r in completed["vms"]] == ["completed"], completed


def test_a_byte_flipped_in_the_replica_outside_the_final_delta_is_named_after_the_vm_runs_and_blocks_completion(
    lab: dict,
) -> None:
    vm = "flow-flip-01"
    key = replicated(lab, vm, 8)
    flip_byte(vm, key, 5 * MIB + 1234)  # after the last cycle; the final delta does not touch that chunk
    write_guest(lab, vm, MIB, os.urandom(CHUNK))

    state, result = cut_over(wave_of(vm))

    [row] = result["vms"]
    assert state == "FAILED" and row["outcome"] == "migrated" and row["verification"] == "failed", row
    assert row["disks"][0]["first_difference"] == 5 * MIB
    assert f"managed disk {vm}-osdisk (source disk {key}) differs at byte offset {5 * MIB}" in row["error"]
    assert "The target VM was left running" in row["error"] and "Roll back" in row["error"]
    assert connect_azure().compute.virtual_machines.get("rg-target", vm).id == row["target_vm_id"]
    # What a person sees in the Prefect UI: the verification's progress at its end, and the cutover report saying
    # the verification failed, where, that the VM runs, and what to do.
    assert latest_artifact(f"verification-{vm}").data == 100.0
    report = latest_artifact(f"cutover-wave-{vm}").data
    assert f"## {vm}: migrated" in report
    assert "**Verification after the VM started: FAILED.** The target VM is running on a disk that differs" in report
    assert f"disk {key} ({vm}-osdisk): " in report and f", DIFFERS at byte {5 * MIB})" in report
    assert "It was left running." in report and f"Roll back (`vmshift rollback --vm {vm}`" in report
    # The differing chunk is the next cycle's to write again.
    assert open_clients(SETTINGS).store.load(vm).state.disks[str(key)].rewrite == [(5 * MIB, CHUNK)]

    refused = asyncio.run(complete_migration(wave_of(vm)))
    [completion] = refused["vms"]
    assert completion["outcome"] == "refused", completion
    assert f"different from the source at byte offset {5 * MIB}" in completion["error"], completion
    assert power_state(vm) == "poweredOff"  # completion changed nothing: the source is there to go back to

    again = asyncio.run(verify_cutover(wave_of(vm), return_state=True))
    assert again.is_failed()  # the same result, read from the record: nothing is read again
    assert asyncio.run(again.aresult(raise_on_failure=False))["vms"][0]["disks"][0]["first_difference"] == 5 * MIB

    rolled_back = asyncio.run(rollback(wave_of(vm)))
    assert [r["outcome"] for r in rolled_back["vms"]] == ["rolled-back"], rolled_back
    assert power_state(vm) == "poweredOn"


def test_a_byte_flipped_inside_the_final_delta_is_caught_inside_the_outage_and_no_vm_is_built(
    lab: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = "flow-flip-02"
    key = replicated(lab, vm, 8)
    write_guest(lab, vm, 2 * MIB, os.urandom(CHUNK))
    check_ranges = vmshift.replication.disk_cycle.check_ranges

    def corrupted_before_the_read_back(copy, manifest, areas, *args, **kwargs):
        flip_byte(vm, key, 2 * MIB + 77)  # inside the range the final delta just wrote
        return check_ranges(copy, manifest, areas, *args, **kwargs)

    monkeypatch.setattr(vmshift.replication.disk_cycle, "check_ranges", corrupted_before_the_read_back)
    state, result = cut_over(wave_of(vm))

    [row] = result["vms"]
    assert state == "COMPLETED" and row["outcome"] == "failed" and "ReplicaMismatch" in row["error"], row
    assert f"disk {key}: 65536 bytes in 1 range(s), the first at byte offset {2 * MIB}" in row["error"]
    assert "powered on again" in row["error"] and power_state(vm) == "poweredOn"
    with pytest.raises(ResourceNotFoundError):
        connect_azure().compute.virtual_machines.get("rg-target", vm)


def test_a_byte_flipped_in_the_recovery_point_a_staged_disk_is_filled_from_is_named_after_the_vm_runs(
    lab: dict,
) -> None:
    """A staged disk is filled from the latest recovery point before the shutdown: a byte flipped in the replica
    before that point was taken (in a chunk no cycle after it writes) reaches the staged disk, and the verification
    once the VM runs still finds it."""
    vm = "flow-flip-03"
    key = replicated(lab, vm, 24)
    flip_byte(vm, key, 21 * MIB + 99)
    write_guest(lab, vm, MIB, os.urandom(CHUNK))
    replicate_once(vm, session=connect(VCenterConfig.from_env()), settings=SETTINGS)  # the point staging reads
    write_guest(lab, vm, 2 * MIB, os.urandom(CHUNK))

    state, result = cut_over(wave_of(vm))

    [row] = result["vms"]
    assert [step["name"] for step in row["steps"]][3] == "staged disks", row["steps"]
    assert state == "FAILED" and row["outcome"] == "migrated" and row["verification"] == "failed", row
    assert row["disks"][0]["first_difference"] == 21 * MIB
    assert f"managed disk {vm}-osdisk (source disk {key}) differs at byte offset {21 * MIB}" in row["error"]


def test_a_cycle_between_the_staging_and_the_shutdown_has_the_staged_disk_filled_again_inside_the_outage(
    lab: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that ends after the disks were staged leaves them a recovery point behind: the final delta is no
    delta of what they hold. Each is filled again from the final recovery point inside the outage, a downtime step
    of its own with the bytes it copied, and the disk the VM starts from equals the source, data zeroed since the
    staging included."""
    vm = "flow-refill-01"
    replicated(lab, vm, 24)  # recovery point 1: what the staging copies
    shut_down = VSphereSourceVm.shut_down

    def a_cycle_first(source: VSphereSourceVm, *args: object, **kwargs: object) -> bool:
        write_guest(lab, vm, 5 * MIB, os.urandom(MIB))  # staged data overwritten
        write_guest(lab, vm, 10 * MIB, bytes(MIB))  # staged data zeroed: the replica's pages are cleared
        write_guest(lab, vm, 30 * MIB, os.urandom(MIB))  # where the staged disk holds nothing
        # Recovery point 2. Once the cutover began, the final delta is the one cycle the lifecycle lets run.
        replicate_once(vm, session=connect(VCenterConfig.from_env()), settings=SETTINGS, step=Step.FINAL_DELTA)
        write_guest(lab, vm, 40 * MIB, os.urandom(CHUNK))  # the final delta, recovery point 3
        return shut_down(source, *args, **kwargs)

    monkeypatch.setattr(VSphereSourceVm, "shut_down", a_cycle_first)
    state, result = cut_over(wave_of(vm))

    [row] = result["vms"]
    assert state == "COMPLETED" and row["outcome"] == "migrated" and row["verification"] == "passed", row
    assert row["disks"][0]["first_difference"] is None
    assert open_clients(SETTINGS).store.load(vm).state.cutover.recovery_point == 3
    assert row["staging"]["name"] == "disks staged from recovery point 1" and row["staging"]["bytes"] == 24 * MIB
    steps = {step["name"]: step for step in row["steps"]}
    assert list(steps) == ["shutdown", "final delta", "range check", "staged disks refill", "staged disks",
                           "frozen copies", "VM creation"]
    # Inside the outage: the final delta read from the source and read back, then every page of recovery point 3
    # copied into the staged disk (the 24 MiB written, less the MiB zeroed, plus the MiB and the block written
    # since), each a step of the downtime; and the downtime is its steps.
    assert steps["final delta"]["bytes"] == CHUNK
    assert CHUNK <= steps["range check"]["bytes"] <= 1.1 * CHUNK
    assert steps["staged disks refill"]["bytes"] == 24 * MIB + CHUNK
    assert abs(row["downtime_s"] - sum(step["seconds"] for step in row["steps"])) <= 0.1 * row["downtime_s"], row
    report = latest_artifact(f"cutover-wave-{vm}").data
    assert "| staged disks refill | " in report and " | 24.1 MiB copied |" in report, report
    # The disk holds recovery point 3's pages and no others: none left from point 1 where the guest wrote zeros.
    assert row["post_verify_bytes"] == 24 * MIB + CHUNK, row
