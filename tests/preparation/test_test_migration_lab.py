"""Test migration through the `test-migrate` flow on the lab's guests: the OS disk of the test VM is imported from
the recovery point's prepared copy, and the flow's report lists each change (rule, file, before → after); the
Azure disk is the source plus exactly those changes; the prepared rhel-like test VM's disk boots and the same VM
test-migrated with preparation turned off does not; an OS vmshift does not prepare stops that VM's test migration
with UnrecognisedOs before anything is created, unless the plan turns preparation off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id
from conftest import PREPARATION_TESTS, PreparedGuest, download_disk, guest_wave, run_test_migrate

from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.disks import ManagedDiskReader, snapshot_uri
from vmshift.azure.tags import SOURCE_VM_TAG
from vmshift.lab.boot_check import boot_check
from vmshift.migration.target import clean_up_test_vm
from vmshift.preparation.prepare import PreparedSourceReader
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.verify import compare_disks

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness", "cache_reached_privately")]

GUESTS = ["prep-rhel-01", "prep-ubuntu-01", "prep-debian-01", "prep-win-01"]
RESOURCE_GROUP = "rg-target"  # the example plan's
BOOT_TIMEOUT_S = 600  # a busybox guest boots in 10-45 s under emulation; a loaded CI runner is slower


@pytest.fixture(scope="module")
def azure(lab: dict) -> AzureClients:
    return connect()


def os_disk_name(azure: AzureClients, test_vm: str) -> str:
    vm = azure.compute.virtual_machines.get(RESOURCE_GROUP, test_vm)
    return parse_resource_id(vm.properties.storage_profile.os_disk.managed_disk.id)["name"]


def read_os_disk(owner: AzureClients, test_vm: str) -> ManagedDiskReader:
    """The test VM's OS disk through a read link; the VM deallocated first, as Azure reads no disk a running VM
    holds. As the subscription's owner: vmshift's own roles do not deallocate VMs."""
    owner.compute.virtual_machines.begin_deallocate(RESOURCE_GROUP, test_vm).result()
    return ManagedDiskReader(owner, RESOURCE_GROUP, os_disk_name(owner, test_vm))


@pytest.mark.parametrize("vm", GUESTS)
def test_each_guest_is_test_migrated_from_its_prepared_os_disk_and_the_report_lists_every_change(
    vm: str, prepared_guest: Callable[[str], PreparedGuest], azure: AzureClients
) -> None:
    prepared = prepared_guest(vm)
    preparation, row, report = prepared.preparation, prepared.test_migration, prepared.report

    assert row["outcome"] == "test-migrated" and row["error"] is None
    disk = azure.compute.disks.get(RESOURCE_GROUP, os_disk_name(azure, row["test_vm"]))
    assert disk.properties.creation_data.source_uri == preparation.prepared_blob
    assert row["preparation"]["changes"] == [[c.rule, c.path, c.setting] for c in preparation.changes]
    assert preparation.changes and f"### {vm}" in report and preparation.os.product in report
    for change in preparation.changes:
        assert f"| {change.rule} | `{change.path}`{f' {change.setting}' if change.setting else ''} |" in report
    for finding in preparation.findings:
        assert f"- finding ({finding.rule}): " in report
    if vm != "prep-win-01":  # a text file shows the lines that changed: fstab from /dev/sda to the UUID
        fstab = next(line for line in report.splitlines() if line.startswith("| fstab-by-uuid | `/etc/fstab` |"))
        assert "`- /dev/sda" in fstab and "`+ UUID=" in fstab, fstab
    else:  # a registry value shows its data before and after
        assert "| san-policy-online-all | `/Windows/System32/config/SYSTEM` HKLM\\SYSTEM\\ControlSet001\\Services" \
               "\\partmgr\\Parameters\\SanPolicy | `2` → `1` |" in report


@pytest.mark.parametrize("vm", GUESTS)
def test_the_test_vms_os_disk_is_the_source_plus_exactly_the_recorded_changes(
    vm: str, prepared_guest: Callable[[str], PreparedGuest], owner: AzureClients
) -> None:
    prepared = prepared_guest(vm)
    source = LocalDiskReader(prepared.source)
    expected = PreparedSourceReader(source, LocalDiskReader(prepared.prepared), prepared.preparation.changed_extents)
    with read_os_disk(owner, prepared.test_migration["test_vm"]) as managed:
        assert compare_disks(expected, managed).equal
        assert not compare_disks(source, managed).equal


def test_the_prepared_test_vm_boots_and_the_same_guest_test_migrated_without_preparation_does_not(
    prepared_guest: Callable[[str], PreparedGuest], azure: AzureClients, owner: AzureClients, tmp_path: Path
) -> None:
    vm = "prep-rhel-01"
    prepared = prepared_guest(vm)
    with read_os_disk(owner, prepared.test_migration["test_vm"]) as managed:
        image = download_disk(managed, tmp_path / "prepared.raw")
    result = boot_check(image, tmp_path, BOOT_TIMEOUT_S)
    assert result.passed, f"{result.reason()}\n{result.serial}"
    assert "vdb1" in result.serial  # the guest's disk was the second virtio disk, not /dev/sda
    image.unlink()

    # Another target name: the prepared test VM stays as it is for the other tests.
    row, report = run_test_migrate(guest_wave(vm, target_vm_name="prep-rhel-01-raw", prepare_os=False))
    assert row["outcome"] == "test-migrated" and row["preparation"] is None
    assert "OS preparation turned off by the plan (`prepare_os=no`)" in report
    disk = azure.compute.disks.get(RESOURCE_GROUP, os_disk_name(azure, row["test_vm"]))
    # the latest recovery point as replicated (a later test's cycles may have made one after the fixture's)
    assert disk.properties.creation_data.source_uri.startswith(snapshot_uri(prepared.replica.url, ""))
    with read_os_disk(owner, row["test_vm"]) as managed:
        image = download_disk(managed, tmp_path / "unprepared.raw")
    result = boot_check(image, tmp_path, BOOT_TIMEOUT_S)
    assert not result.passed and not result.kernel_console
    assert result.failure == "VMSHIFT-BOOT-FAILED fstab: device /dev/sda1 for / not found", result.serial


def test_a_guest_vmshift_does_not_prepare_stops_its_test_migration_before_anything_is_created(
    replicated_guest: Callable[[str], tuple[PageBlobReplica, str]], azure: AzureClients
) -> None:
    vm = "cbt-probe-01"  # an 8 MiB disk of zeros: no partition table, no OS
    replica, snapshot_id = replicated_guest(vm)

    row, report = run_test_migrate(guest_wave(vm))

    assert row["outcome"] == "failed"
    assert row["error"].startswith(f"UnrecognisedOs: VM {vm}, disk {vm}/disk-"), row["error"]
    assert f"recovery point {snapshot_id}" in row["error"] and "found 0 operating systems" in row["error"]
    assert f"| {vm} | failed |" in report
    compute = azure.compute
    created = [*compute.virtual_machines.list(RESOURCE_GROUP), *compute.disks.list_by_resource_group(RESOURCE_GROUP)]
    ours = [r.id for r in created if (r.tags or {}).get(SOURCE_VM_TAG) == vm]
    assert ours == []
    assert [b.name for b in replica.container.list_blobs(name_starts_with=f"{vm}/")] == [replica.name]  # no copy

    # The plan turns preparation off for it: test-migrated from the recovery point as replicated.
    row, _ = run_test_migrate(guest_wave(vm, prepare_os=False))
    try:
        assert row["outcome"] == "test-migrated", row
        disk = compute.disks.get(RESOURCE_GROUP, os_disk_name(azure, row["test_vm"]))
        assert disk.properties.creation_data.source_uri == snapshot_uri(replica.url, snapshot_id)
    finally:
        clean_up_test_vm(guest_wave(vm).vms[0], PREPARATION_TESTS)
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(RESOURCE_GROUP, row["test_vm"])
