"""What must hold before a run snapshots a VM, and what it cleans first (Forklift traced guest corruption to getting
these wrong): one vmshift run per VM, no leftover snapshot of ours, no snapshot of anyone else's, no pending
consolidation."""

from __future__ import annotations

import datetime as dt

from pyVmomi import vim, vmodl

from vmshift.state.document import VmState
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import ConsolidationNeeded, ForeignSnapshots, SnapshotError
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX


class ReplicationInProgress(RuntimeError):
    """Another vmshift run is replicating this VM right now."""


def check_no_other_run(state: VmState, owner: str = "") -> None:
    """Refuse while another run's claim is live; `owner`'s own claim (an earlier attempt of it) is not another's."""
    claim = state.in_progress.claim if state.in_progress else None
    if claim is not None and not (owner and claim.owner == owner) and claim.is_live():
        raise ReplicationInProgress(
            f"{state.vm} is being replicated by run {claim.run_id} (pid {claim.pid} on {claim.host}, "
            f"heartbeat {claim.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); wait for it or stop it first"
        )


def has_snapshots(session: VSphereSession, vm: vim.VirtualMachine) -> bool:
    """Whether the VM has any snapshot, asked through the property collector: an unset `snapshot` property
    then comes back absent, where a direct read of it fails on govmomi's simulator (0.24)."""
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vm)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=["snapshot"])],
    )
    contents = session.content.propertyCollector.RetrieveContents([spec])
    return any(prop.name == "snapshot" and prop.val for item in contents for prop in item.propSet)


def remove_leftover_snapshots(session: VSphereSession, vm: vim.VirtualMachine) -> list[str]:
    """Remove snapshots a crashed vmshift run left, so that the VM never carries two of ours."""
    removed: list[str] = []
    if not has_snapshots(session, vm):
        return removed
    for snapshot in snapshots.find_snapshots(vm, OWN_SNAPSHOT_PREFIX):
        removed.append(snapshot._moId)
        snapshots.remove_snapshot(session, snapshot)
    return removed


def check_snapshottable(vm: vim.VirtualMachine, name: str) -> None:
    """Refuse before snapshotting a VM whose disks are not where a snapshot of ours would freeze them."""
    if vm.runtime.consolidationNeeded:
        raise ConsolidationNeeded(
            f"{name} needs disk consolidation (vSphere: Snapshot > Consolidate); vmshift will not snapshot it "
            "again until that is done"
        )
    foreign = inventory.foreign_snapshots(vm)
    if foreign:
        raise ForeignSnapshots(
            f"{name} has snapshots vmshift did not take ({', '.join(foreign)}): its disks run on their redo logs, "
            "which datastore reads of the base disk would miss; delete them in vCenter (Snapshots > Manage "
            "Snapshots), then run again"
        )


def snapshot_time(vm: vim.VirtualMachine, snapshot: vim.vm.Snapshot) -> dt.datetime:
    """When vSphere froze the disks (the snapshot tree's createTime): the time a recovery point restores to."""
    tree = snapshots.snapshot_tree(vm, snapshot._moId)
    if tree is not None:
        return tree.createTime
    raise SnapshotError(f"snapshot {snapshot._moId} of {vm.name} is not in its snapshot tree: it was removed while "
                        "the cycle was starting; run the cycle again")
