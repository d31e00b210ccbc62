"""The lab's vCenter itself: restarts keep disks and CBT, disk growth, the guest endpoint, the cached build.

These tests run a vCenter of their own: they restart it and change disks the shared lab's users rely on.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim

from vmshift.lab import vcsim_build
from vmshift.lab.guest import GuestWriteFailed, churn_guest, write_guest
from vmshift.lab.vcenter_role import role_held
from vmshift.vsphere.cbt import ALL_ALLOCATED, ChangedArea, changed_areas, enable_cbt
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import ChangeIdRefused
from vmshift.vsphere.inventory import find_vm, vm_disks
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot, snapshot_disks
from vmshift.vsphere.tasks import wait_for_task

TEST_SPEC = Path(__file__).parents[1] / "lab-spec.json"
BLOCK = 64 * 1024
MIB = 1 << 20


@pytest.fixture(scope="module")
def vcenter(tmp_path_factory: pytest.TempPathFactory, private_vcenter) -> Iterator[tuple[dict, VSphereSession]]:
    folder, password = tmp_path_factory.mktemp("own-vcenter"), secrets.token_urlsafe(18)
    with private_vcenter(folder, password, TEST_SPEC) as started:
        yield started


def test_a_restart_keeps_disk_data_cbt_change_ids_and_morefs(tmp_path, private_vcenter):
    password = secrets.token_urlsafe(18)
    with private_vcenter(tmp_path, password, TEST_SPEC) as (lab, session):
        vm = find_vm(session, "app-linux-01")
        moref = vm._moId
        enable_cbt(session, vm)
        write_guest(lab, "app-linux-01", MIB, b"before restart")
        first = create_snapshot(session, vm, "cycle-1")
        change_id = snapshot_disks(first)[0].change_id
        remove_snapshot(session, first)
        create_snapshot(session, vm, "left-open-by-a-killed-cycle")
        write_guest(lab, "app-linux-01", 2 * MIB, b"on the redo log")

    with private_vcenter(tmp_path, password, TEST_SPEC) as (lab, session):
        vm = find_vm(session, "app-linux-01")
        assert (vm._moId, vm.config.changeTrackingEnabled, vm.snapshot) == (moref, True, None)
        write_guest(lab, "app-linux-01", 10 * MIB, b"after restart")
        second = create_snapshot(session, vm, "cycle-2")
        try:
            areas = changed_areas(session, vm, second, 2000, change_id)
            disk = snapshot_disks(second)[0]
            reader = open_disk(session, disk.datastore_path, disk.capacity_bytes)
            kept = reader.read(MIB, 14), reader.read(2 * MIB, 15)
        finally:
            remove_snapshot(session, second)

    assert areas == [ChangedArea(2 * MIB, BLOCK), ChangedArea(10 * MIB, BLOCK)]
    assert kept == (b"before restart", b"on the redo log")


def grow(lab: dict, session: VSphereSession, vm: vim.VirtualMachine, key: int, capacity: int) -> None:
    """As an administrator grows a disk: vmshift's role may not (VirtualMachine.Config.DiskExtend)."""
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk) and d.key == key)
    disk.capacityInKB = capacity // 1024
    disk.capacityInBytes = capacity
    change = vim.vm.device.VirtualDeviceSpec(operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=disk)
    with role_held(lab, "Admin"):
        wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[change])))


def test_growing_a_disk_extends_its_flat_file_and_resets_change_tracking(vcenter):
    lab, session = vcenter
    vm = find_vm(session, "vsphere-lib-01")
    enable_cbt(session, vm)
    before = create_snapshot(session, vm, "before-growth")
    stale = snapshot_disks(before)[0].change_id
    with pytest.raises(vim.fault.InvalidState):
        grow(lab, session, vm, 2001, 12 * MIB)
    remove_snapshot(session, before)

    grow(lab, session, vm, 2000, 48 * MIB)
    write_guest(lab, "vsphere-lib-01", 47 * MIB, b"in the new space")

    disk = vm_disks(vm)[0]
    flat = Path(lab["vcenter"]["datastore_dir"]["ds-nfs-02"]) / "vsphere-lib-01" / "vsphere-lib-01-flat.vmdk"
    assert disk.capacity_bytes == flat.stat().st_size == 48 * MIB
    after = create_snapshot(session, vm, "after-growth")
    try:
        with pytest.raises(ChangeIdRefused):
            changed_areas(session, vm, after, 2000, stale)
        assert ChangedArea(47 * MIB, BLOCK) in changed_areas(session, vm, after, 2000, ALL_ALLOCATED)
    finally:
        remove_snapshot(session, after)
    with pytest.raises(vim.fault.InvalidDeviceSpec):
        grow(lab, session, vm, 2000, 16 * MIB)


def test_the_guest_endpoint_refuses_what_no_guest_could_do(vcenter):
    lab, _ = vcenter
    wrong = {**lab, "vcenter": {**lab["vcenter"], "password": "wrong"}}

    with pytest.raises(GuestWriteFailed, match="poweredOff"):
        write_guest(lab, "win-iis-03", 0, b"x")
    with pytest.raises(GuestWriteFailed, match="no VM named"):
        write_guest(lab, "no-such-vm", 0, b"x")
    with pytest.raises(GuestWriteFailed, match="outside the disk"):
        write_guest(lab, "web-rhel-02", (48 * MIB) - 1, b"xy")
    with pytest.raises(GuestWriteFailed, match="401"):
        write_guest(wrong, "web-rhel-02", 0, b"x")


def test_a_churn_writes_the_asked_share_of_every_disk_and_cbt_sees_it(vcenter):
    lab, session = vcenter
    vm = find_vm(session, "win-sql-01")
    enable_cbt(session, vm)
    base = create_snapshot(session, vm, "churn-base")
    change_ids = {d.key: d.change_id for d in snapshot_disks(base)}
    remove_snapshot(session, base)

    result = churn_guest(lab, "win-sql-01", percent=3, seed=42)

    top = create_snapshot(session, vm, "churn-top")
    try:
        changed = {key: sum(a.length for a in changed_areas(session, vm, top, key, change_id))
                   for key, change_id in change_ids.items()}
    finally:
        remove_snapshot(session, top)
    assert result["vm"] == "win-sql-01"
    assert [d["bytes_written"] for d in result["disks"]] == [round(64 * MIB * 0.03 / 4096) * 4096,
                                                            round(32 * MIB * 0.03 / 4096) * 4096]
    assert result["bytes_written"] == sum(d["bytes_written"] for d in result["disks"])
    assert all(changed[d["key"]] >= d["bytes_written"] for d in result["disks"])


def test_the_build_is_cached_until_the_sources_change():
    first = vcsim_build.build_vcsim(vcsim_build.DEFAULT_CACHE)
    built_at = first.stat().st_mtime_ns

    assert vcsim_build.build_vcsim(vcsim_build.DEFAULT_CACHE) == first
    assert first.stat().st_mtime_ns == built_at


def test_a_failed_build_shows_the_compiler_output(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    monkeypatch.setattr(vcsim_build, "SOURCE_DIR", tmp_path / "src")

    with pytest.raises(vcsim_build.VcsimBuildError, match="undefinedThing"):
        vcsim_build.build_vcsim(tmp_path / "cache")


def test_removing_an_older_snapshot_under_a_newer_one_keeps_what_each_froze(vcenter):
    lab, session = vcenter
    vm = find_vm(session, "web-rhel-02")
    enable_cbt(session, vm)
    older = create_snapshot(session, vm, "older")
    older_change_id = snapshot_disks(older)[0].change_id
    write_guest(lab, "web-rhel-02", 5 * MIB, b"after older")
    newer = create_snapshot(session, vm, "newer")
    write_guest(lab, "web-rhel-02", 6 * MIB, b"after newer")

    remove_snapshot(session, older)

    frozen = snapshot_disks(newer)[0]
    assert frozen.datastore_path == "[ds-nfs-02] web-rhel-02/web-rhel-02.vmdk"
    assert vm_disks(vm)[0].datastore_path == "[ds-nfs-02] web-rhel-02/web-rhel-02-000002.vmdk"
    reader = open_disk(session, frozen.datastore_path, frozen.capacity_bytes)
    assert (reader.read(5 * MIB, 11), reader.read(6 * MIB, 11)) == (b"after older", b"\0" * 11)
    assert changed_areas(session, vm, newer, 2000, older_change_id) == [ChangedArea(5 * MIB, BLOCK)]

    remove_snapshot(session, newer)
    assert vm.snapshot is None
    current = open_disk(session, vm_disks(vm)[0].datastore_path, frozen.capacity_bytes)
    assert current.read(6 * MIB, 11) == b"after newer"
