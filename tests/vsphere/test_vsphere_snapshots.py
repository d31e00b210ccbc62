"""Snapshots as replication reads them: frozen while the guest keeps writing, consolidated on removal."""

from __future__ import annotations

import random

from vmshift.lab.guest import churn_guest, write_guest
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import find_vm, snapshot_trees, vm_disks
from vmshift.vsphere.snapshots import create_snapshot, find_snapshots, remove_snapshot, snapshot_disks

VM = "vsphere-lib-01"
SECOND_DISK = 2001
RANGES = [(0, 4096), (65_530, 20), (1 << 20, 300_000), ((8 << 20) - 1024, 512)]


def test_a_snapshot_reads_what_was_written_before_it_while_the_guest_keeps_writing(session, lab):
    vm = find_vm(session, VM)
    rng = random.Random(7)
    written = [rng.randbytes(length) for _, length in RANGES]
    for (offset, _), data in zip(RANGES, written, strict=True):
        write_guest(lab, VM, offset, data, disk_key=SECOND_DISK)
    snapshot = create_snapshot(session, vm, "frozen")
    try:
        disk = next(d for d in snapshot_disks(snapshot) if d.key == SECOND_DISK)
        reader = open_disk(session, disk.datastore_path, disk.capacity_bytes)
        frozen = reader.read(0, disk.capacity_bytes)

        for offset, length in RANGES:
            write_guest(lab, VM, offset + 7, b"\xee" * length, disk_key=SECOND_DISK)
            churn_guest(lab, VM, percent=2, seed=offset)
        after_churn = reader.read(0, disk.capacity_bytes)
    finally:
        remove_snapshot(session, snapshot)

    assert [frozen[offset:offset + length] for offset, length in RANGES] == written
    assert after_churn == frozen
    current = next(d for d in vm_disks(vm) if d.key == SECOND_DISK)
    live = open_disk(session, current.datastore_path, current.capacity_bytes)
    assert live.read(RANGES[2][0] + 7, 100) == b"\xee" * 100


def test_a_quiesced_snapshot_is_marked_so_in_the_snapshot_tree(session):
    vm = find_vm(session, VM)
    app_consistent = create_snapshot(session, vm, "app-consistent", quiesce=True)
    try:
        crash_consistent = create_snapshot(session, vm, "crash-consistent")
        try:
            quiesced = {tree.name: tree.quiesced for tree in snapshot_trees(vm.snapshot.rootSnapshotList)}
        finally:
            remove_snapshot(session, crash_consistent)
    finally:
        remove_snapshot(session, app_consistent)

    assert quiesced == {"app-consistent": True, "crash-consistent": False}


def test_a_snapshot_keeps_the_base_file_and_the_vm_moves_to_a_redo_log(session):
    vm = find_vm(session, VM)
    snapshot = create_snapshot(session, vm, "vmshift-cycle-9")
    try:
        assert [d.datastore_path for d in vm_disks(vm)] == [
            "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01-000001.vmdk",
            "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01_1-000001.vmdk",
        ]
        assert [d.datastore_path for d in snapshot_disks(snapshot)] == [
            "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk",
            "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01_1.vmdk",
        ]
        assert find_snapshots(vm, "vmshift-cycle-") == [snapshot]
    finally:
        remove_snapshot(session, snapshot)

    assert vm.snapshot is None
    assert vm_disks(vm)[0].datastore_path == "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk"
