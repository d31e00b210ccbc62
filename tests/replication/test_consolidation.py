"""The snapshot rules of a cycle (issue 4, "Snapshot order and hygiene"), on the lab's own VMs of
tests/lab-spec.json: a vmshift snapshot a crashed run left is removed before a new one is taken, so a VM never
carries two; a cycle's changeIds are saved before its snapshot is removed; a VM whose disks need consolidation
(vSphere sets runtime.consolidationNeeded after a failed snapshot removal) is not snapshotted again: the cycle
stops with ConsolidationNeeded and records why, and once the VM is consolidated the vSphere way
(ConsolidateVMDisks_Task) the next cycle runs and the replica equals the source."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from images import random_bytes
from test_cycle import assert_replicas_equal_source, vmshift_snapshots

from vmshift.lab import guest
from vmshift.lab.guest import GuestWriteFailed, set_consolidation_needed, write_guest
from vmshift.replication import cycle
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.hygiene import has_snapshots
from vmshift.replication.verify import verify_vm
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import ConsolidationNeeded, ForeignSnapshots, SnapshotError
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm, snapshot_trees
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


def spy_on_snapshots_taken(monkeypatch: pytest.MonkeyPatch, session: VSphereSession) -> list[tuple[str, list[str]]]:
    """Every snapshot the product asks vSphere for: its name, and the ids of the vmshift snapshots the VM
    carried at that moment."""
    taken: list[tuple[str, list[str]]] = []
    real_create = cycle.snapshots.create_snapshot

    def create_snapshot_seen(session: VSphereSession, vm: object, name: str, *args: object, **kwargs: object) -> object:
        carried = [s._moId for s in vmshift_snapshots(session, vm.name)]
        taken.append((name, carried))
        return real_create(session, vm, name, *args, **kwargs)

    monkeypatch.setattr(cycle.snapshots, "create_snapshot", create_snapshot_seen)
    return taken


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
    taken = spy_on_snapshots_taken(monkeypatch, session)

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
    assert_replicas_equal_source(session, blob_service, replication, VM, tmp_path)


def test_a_vm_carrying_a_snapshot_of_its_owner_is_refused_until_that_snapshot_is_gone(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm_name = "repl-foreign-01"
    store = StateStore(blob_service.get_container_client(replication.state_container))
    write_guest(lab, vm_name, MIB, random_bytes(300_000, 4))
    first = replicate_once(vm_name, session=session, blob_service=blob_service, settings=replication)
    assert first["kind"] == "initial"
    # The VM's owner takes a snapshot before a patch; the guest keeps writing, into that snapshot's redo log.
    owners = create_snapshot(session, find_vm(session, vm_name), "before-patch-tuesday")
    write_guest(lab, vm_name, 3 * MIB, random_bytes(200_000, 5))
    taken = spy_on_snapshots_taken(monkeypatch, session)

    with pytest.raises(ForeignSnapshots) as refused:
        replicate_once(vm_name, session=session, blob_service=blob_service, settings=replication)

    message = str(refused.value)
    assert vm_name in message and "before-patch-tuesday" in message and "delete them" in message, message
    trees = snapshot_trees(find_vm(session, vm_name).snapshot.rootSnapshotList)
    assert taken == [] and [tree.name for tree in trees] == ["before-patch-tuesday"]
    state = store.load(vm_name).state
    assert state.error == message and state.in_progress is None

    remove_snapshot(session, owners)
    again = replicate_once(vm_name, session=session, blob_service=blob_service, settings=replication)
    assert again["kind"] == "delta" and 0 < again["changed_bytes"] < MIB
    assert store.load(vm_name).state.error is None
    assert_replicas_equal_source(session, blob_service, replication, vm_name, tmp_path)


def test_a_snapshot_a_crashed_run_left_is_removed_before_a_new_one_is_taken(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = "repl-order-01"
    write_guest(lab, vm, 0, random_bytes(2 * MIB, 11))
    # What a run killed between taking and removing its snapshot leaves on the VM.
    crashed = create_snapshot(session, find_vm(session, vm), f"{OWN_SNAPSHOT_PREFIX}{vm}-cycle-1")
    taken = spy_on_snapshots_taken(monkeypatch, session)

    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    assert report["leftover_snapshots_removed"] == [crashed._moId]
    crashed = create_snapshot(session, find_vm(session, vm), f"{OWN_SNAPSHOT_PREFIX}{vm}-verify")
    assert verify_vm(vm, session=session, blob_service=blob_service, settings=replication)["equal"]

    assert [carried for _, carried in taken] == [[], []], taken  # the cycle's snapshot, then the verification's
    assert vmshift_snapshots(session, vm) == []


def test_a_cycle_saves_its_changeids_before_it_removes_its_snapshot(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = "repl-order-02"
    store = StateStore(blob_service.get_container_client(replication.state_container))
    write_guest(lab, vm, 0, random_bytes(2 * MIB, 21))
    replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    first_change_id = store.load(vm).state.disks["2000"].change_id
    write_guest(lab, vm, MIB - 10, random_bytes(100_000, 22))
    at_removal: dict[str, dict[str, str | None]] = {}

    def removal_fails(session: VSphereSession, snapshot: object) -> None:
        at_removal["frozen"] = {str(d.key): d.change_id for d in snapshot_disks(snapshot)}
        at_removal["saved"] = {key: d.change_id for key, d in store.load(vm).state.disks.items()}
        raise SnapshotError(f"removing snapshot {snapshot._moId} failed: injected: the host stopped answering")

    monkeypatch.setattr(cycle.snapshots, "remove_snapshot", removal_fails)
    with pytest.raises(SnapshotError, match="injected"):
        replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    monkeypatch.undo()

    assert at_removal["frozen"]["2000"] != first_change_id
    assert at_removal["saved"] == at_removal["frozen"]  # the copy's changeIds, saved while the snapshot existed
    assert store.load(vm).state.disks["2000"].change_id == at_removal["frozen"]["2000"]
    # So the next cycle removes the snapshot left behind and goes on from those changeIds: nothing changed since.
    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    assert (report["kind"], report["changed_bytes"], len(report["leftover_snapshots_removed"])) == ("delta", 0, 1)
    assert vmshift_snapshots(session, vm) == []
    assert_replicas_equal_source(session, blob_service, replication, vm, tmp_path)


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
