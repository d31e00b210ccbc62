"""On the lab: what a cutover does to its vSphere source. Left running, it keeps the final delta's snapshot while the
guest keeps writing, until the migrated disks are proven against the manifests; that snapshot goes once the
cutover is done with it, failed or not; a guest that will not shut down is powered off hard."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import HttpResponseError

from vmshift.azure.vms import TargetVmSpec
from vmshift.lab.guest import set_guest_shutdown, write_guest
from vmshift.migration.cutover import CutoverOptions
from vmshift.migration.source import FinalDelta, VSphereSourceVm
from vmshift.migration.verification import cache_manifests, prove_cutover
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.state.lifecycle import Actor
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import PowerOperationFailed
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("tidy_target_group")]
ENGINE_TESTS = Actor("tests/azure", run="engine")

SETTINGS = ReplicationSettings(cache_account="vmshiftcache01")
MIB = 1 << 20
AFTER_FINAL_DELTA = b"written by the guest after the final delta cycle " * 80


def _snapshots_left(session, vm_name: str) -> list[str]:
    return [s._moId for s in snapshots.find_snapshots(inventory.find_vm(session, vm_name), OWN_SNAPSHOT_PREFIX)]


def _power_state(session, vm_name: str) -> str:
    return inventory.find_vm(session, vm_name).runtime.powerState


def _target_names(azure, vm_name: str) -> list[str]:
    return sorted(r.name for r in (*azure.compute.virtual_machines.list("rg-target"),
                                   *azure.compute.disks.list_by_resource_group("rg-target"),
                                   *azure.network.network_interfaces.list("rg-target"))
                  if r.name.startswith(vm_name))


def _replicated(
    session, store, spec_from_state, vm_name: str, run_id: str
) -> tuple[list[int], Callable[[], TargetVmSpec], VSphereSourceVm]:
    """(disk keys, target spec, cutover source) of a lab VM after its initial cycle."""
    keys = sorted(d.key for d in inventory.vm_disks(inventory.find_vm(session, vm_name)))
    replicate_once(vm_name, session=session, settings=SETTINGS)
    spec = spec_from_state(store, vm_name, keys, run_id=run_id, os_type="Linux", firmware="bios", vcpus=1,
                           memory_mib=1024)
    return keys, spec, VSphereSourceVm(session, vm_name, SETTINGS, ENGINE_TESTS)


def test_a_cutover_leaving_the_source_running_verifies_against_the_final_snapshot_while_the_guest_writes(
    lab, azure, session, store, spec_from_state, engine_cutover
):
    vm_name = "azure-run-01"
    keys, spec, source = _replicated(session, store, spec_from_state, vm_name, "azure-test-running")
    shutdowns: list[float] = []
    shut_down, final_delta = source.shut_down, source.final_delta

    def recorded_shut_down(timeout_s: float, power_off_after: bool) -> bool:
        shutdowns.append(timeout_s)
        return shut_down(timeout_s, power_off_after)

    def final_delta_then_the_guest_writes(keep_snapshot: bool) -> FinalDelta:
        final = final_delta(keep_snapshot)
        for key in keys:  # in the middle of every disk's first MiB, which the verification reads too
            write_guest(lab, vm_name, MIB // 2, AFTER_FINAL_DELTA, disk_key=key)
        return final

    source.shut_down, source.final_delta = recorded_shut_down, final_delta_then_the_guest_writes
    result = engine_cutover(vm_name, azure, spec(), source,
                            CutoverOptions(leave_source_running=True, shutdown_timeout_s=5))

    assert result.record.steps[0].name == "final delta"  # no shutdown
    assert _snapshots_left(session, vm_name) == [result.record.source_snapshot]  # kept until the disks are proven
    proven = prove_cutover(azure, result.record, cache_manifests(SETTINGS, vm_name), save=lambda _: None)
    assert proven.record.verification == "passed"
    assert sorted(proof.key for proof in proven.record.disks.values()) == keys
    assert azure.compute.virtual_machines.get("rg-target", vm_name).id == result.built.vm_id
    assert shutdowns == [] and _power_state(session, vm_name) == "poweredOn"
    source.release(result.record.source_snapshot)
    assert _snapshots_left(session, vm_name) == []
    # The guest's writes are on the source (the snapshot's redo log went back into the disk), not in Azure.
    for disk in inventory.vm_disks(inventory.find_vm(session, vm_name)):
        live = open_disk(session, disk.datastore_path, disk.capacity_bytes)
        assert live.read(MIB // 2, len(AFTER_FINAL_DELTA)) == AFTER_FINAL_DELTA


def test_a_cutover_that_fails_after_the_final_delta_leaves_no_vmshift_snapshot_on_the_running_source(
    azure, arm_faults, session, store, spec_from_state, engine_cutover
):
    vm_name = "azure-fail-01"
    _, spec, source = _replicated(session, store, spec_from_state, vm_name, "azure-test-fail")
    # More failures than azure-core retries: first the disk import, then the VM.
    for failing in (f"PUT .*/disks/{vm_name}-osdisk$", f"PUT .*/virtualMachines/{vm_name}$"):
        arm_faults({"retry_after": 0.01, "next": [{"operation": failing, "count": 100}]})
        try:
            with pytest.raises(HttpResponseError) as failed:
                engine_cutover(vm_name, azure, spec(), source, CutoverOptions(leave_source_running=True))
        finally:
            arm_faults({})
        assert failed.value.status_code == 429, failing
        assert _snapshots_left(session, vm_name) == [], failing
        assert _power_state(session, vm_name) == "poweredOn"
        assert vm_name not in _target_names(azure, vm_name)
        assert store.load(vm_name).state.phase == "protected"

    # A run killed while it verified leaves the kept snapshot: the next cycle takes it away before its own.
    kept = replicate_once(vm_name, session=session, settings=SETTINGS, keep_snapshot=True)
    assert _snapshots_left(session, vm_name) == [kept["kept_snapshot"]]
    assert store.load(vm_name).state.phase == "protected"
    after = replicate_once(vm_name, session=session, settings=SETTINGS)
    assert after["leftover_snapshots_removed"] == [kept["kept_snapshot"]] and "kept_snapshot" not in after
    assert after["kind"] == "delta" and after["changed_bytes"] == 0
    assert _snapshots_left(session, vm_name) == []


def test_a_guest_that_ignores_the_shutdown_is_powered_off_hard_and_the_vm_is_cut_over(
    lab, azure, session, store, spec_from_state, engine_cutover
):
    vm_name = "azure-hang-01"
    keys, spec, source = _replicated(session, store, spec_from_state, vm_name, "azure-test-hang")
    set_guest_shutdown(lab, vm_name, "ignore")
    try:
        with pytest.raises(PowerOperationFailed, match="still poweredOn after 1 s; it was left running"):
            engine_cutover(vm_name, azure, spec(), source,
                           CutoverOptions(shutdown_timeout_s=1, allow_hard_power_off=False))
        assert _power_state(session, vm_name) == "poweredOn"
        assert _target_names(azure, vm_name) == []

        result = engine_cutover(vm_name, azure, spec(), source, CutoverOptions(shutdown_timeout_s=1))
    finally:
        set_guest_shutdown(lab, vm_name, "normal")
    assert _power_state(session, vm_name) == "poweredOff"
    proven = prove_cutover(azure, result.record, cache_manifests(SETTINGS, vm_name), save=lambda _: None)
    assert proven.record.verification == "passed" and sorted(int(key) for key in proven.record.disks) == keys
    assert azure.compute.virtual_machines.get("rg-target", vm_name).id == result.built.vm_id
    assert _snapshots_left(session, vm_name) == []
