"""A VM whose disks need consolidation (vSphere sets runtime.consolidationNeeded after a failed snapshot
removal) is not snapshotted again: the cycle stops with ConsolidationNeeded and records why; once the VM is
consolidated the vSphere way (ConsolidateVMDisks_Task) the next cycle runs and the replica equals the source.
On the lab's own VM, repl-consol-01 of tests/lab-spec.json."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from images import download, qemu_identical, random_bytes

from vmshift.lab import guest
from vmshift.lab.guest import GuestWriteFailed, set_consolidation_needed, write_guest
from vmshift.replication import cycle
from vmshift.replication.cycle import ReplicationSettings, has_snapshots, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import ConsolidationNeeded
from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.snapshots import create_snapshot, find_snapshots, remove_snapshot, snapshot_disks
from vmshift.vsphere.tasks import wait_for_task

VM = "repl-consol-01"
TEST_SPEC = Path(__file__).parents[1] / "lab-spec.json"
pytestmark = pytest.mark.lab


def snapshot_ids(session: VSphereSession, vm_name: str) -> list[str]:
    """Every snapshot of the VM, whatever its name, from its snapshot tree."""
    vm = find_vm(session, vm_name)
    return [s._moId for s in find_snapshots(vm, "")] if has_snapshots(session, vm) else []


def sequence(change_id: str) -> int:
    """The sequence number of a changeId ("<tracking uuid>/<seq>"): every snapshot of the disk ends one."""
    return int(change_id.rsplit("/", 1)[1])


def assert_replica_equals_source(
    session: VSphereSession, blob_service: BlobServiceClient, chosen: ReplicationSettings, folder: Path
) -> None:
    vm = find_vm(session, VM)
    probe = create_snapshot(session, vm, "test-probe")
    try:
        disks = {
            d.key: open_disk(session, d.datastore_path, d.capacity_bytes).read(0, d.capacity_bytes)
            for d in snapshot_disks(probe)
        }
    finally:
        remove_snapshot(session, probe)
    container = blob_service.get_container_client(chosen.replica_container)
    for key, data in disks.items():
        replica = PageBlobReplica(container, f"{VM}/disk-{key}.vhd", owner=f"{VM}/disk-{key}")
        vhd = download(replica, folder / f"{key}.vhd")
        raw = folder / f"{key}.raw"
        raw.write_bytes(data)
        assert vhd.read_bytes()[: len(data)] == data, f"disk {key} of {VM} differs"
        assert qemu_identical(raw, vhd)


def test_a_vm_needing_consolidation_is_not_snapshotted_until_consolidated(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = StateStore(blob_service.get_container_client(replication.state_container))
    write_guest(lab, VM, 0, random_bytes(3000, 1))
    write_guest(lab, VM, 5 * MIB - 100, random_bytes(200_000, 2))
    first = replicate_once(VM, session=session, blob_service=blob_service, settings=replication)
    assert first["kind"] == "initial"
    first_change_id = store.load(VM).state.disks["2000"].change_id

    # What vSphere reports after a snapshot removal that failed half way; the guest keeps writing.
    assert set_consolidation_needed(lab, VM, True) == {"vm": VM, "consolidation_needed": True}
    vm = find_vm(session, VM)
    assert vm.runtime.consolidationNeeded is True
    write_guest(lab, VM, 7 * MIB, random_bytes(70_000, 3))
    assert snapshot_ids(session, VM) == []
    taken: list[str] = []  # names of the snapshots the cycles ask for
    real_create = cycle.snapshots.create_snapshot

    def create_snapshot_seen(session: VSphereSession, vm: object, name: str, *args: object, **kwargs: object) -> object:
        taken.append(name)
        return real_create(session, vm, name, *args, **kwargs)

    monkeypatch.setattr(cycle.snapshots, "create_snapshot", create_snapshot_seen)

    with pytest.raises(ConsolidationNeeded) as refused:
        replicate_once(VM, session=session, blob_service=blob_service, settings=replication)

    message = str(refused.value)
    assert VM in message and "Consolidate" in message, message
    assert taken == [] and snapshot_ids(session, VM) == []
    state = store.load(VM).state
    assert state.error is not None and VM in state.error and "consolidation" in state.error
    assert state.in_progress is None and state.cycles == first["cycle"]

    # Consolidated the vSphere way: the flag goes, the next cycle runs from where the first one stopped.
    wait_for_task(session, vm.ConsolidateVMDisks_Task())
    assert vm.runtime.consolidationNeeded is False
    second = replicate_once(VM, session=session, blob_service=blob_service, settings=replication)

    assert (second["cycle"], second["kind"]) == (first["cycle"] + 1, "delta")
    assert 0 < second["changed_bytes"] < MIB  # the one guest write since the first cycle
    assert len(taken) == 1 and snapshot_ids(session, VM) == []
    state = store.load(VM).state
    assert (state.phase, state.error) == ("protected", None)
    # No snapshot came between the two cycles' snapshots: the refused cycle took none, vSphere side too.
    assert sequence(state.disks["2000"].change_id) == sequence(first_change_id) + 1
    assert_replica_equals_source(session, blob_service, replication, tmp_path)


def test_the_flag_works_powered_off_and_survives_a_restart_until_consolidated(
    tmp_path: Path, private_vcenter
) -> None:
    password = secrets.token_urlsafe(18)
    with private_vcenter(tmp_path, password, TEST_SPEC) as (lab, session):
        vm = find_vm(session, VM)
        assert (vm.runtime.consolidationNeeded, vm.summary.runtime.consolidationNeeded) == (False, False)
        wait_for_task(session, vm.PowerOffVM_Task())
        assert set_consolidation_needed(lab, VM, True)["consolidation_needed"] is True
        assert (vm.runtime.consolidationNeeded, vm.summary.runtime.consolidationNeeded) == (True, True)
        with pytest.raises(GuestWriteFailed, match="true or false"):
            set_consolidation_needed_raw(lab, VM, "maybe")

    with private_vcenter(tmp_path, password, TEST_SPEC) as (lab, session):
        vm = find_vm(session, VM)
        assert (vm.runtime.powerState, vm.runtime.consolidationNeeded) == ("poweredOff", True)
        wait_for_task(session, vm.ConsolidateVMDisks_Task())
        assert vm.runtime.consolidationNeeded is False
        assert set_consolidation_needed(lab, VM, True)["consolidation_needed"] is True
        assert set_consolidation_needed(lab, VM, False)["consolidation_needed"] is False

    with private_vcenter(tmp_path, password, TEST_SPEC) as (lab, session):
        assert find_vm(session, VM).runtime.consolidationNeeded is False


def set_consolidation_needed_raw(lab: dict, vm: str, value: str) -> dict:
    return guest._post(lab, vm, "consolidation-needed", {"value": value})
