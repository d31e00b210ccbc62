"""Preparing each shipped lab guest's recovery point: the expected rules are carried out and every change is in
the report; the prepared copy is the recovery point plus exactly those changes; the replica (and its snapshot)
stay equal to the source; a disk without an OS vmshift prepares stops with a typed error."""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PreparedGuest
from guest_files import differing_files, ext4_tree, hive_values, ntfs_file

from vmshift.preparation.prepare import PreparedSourceReader, prepare_once
from vmshift.preparation.prepared_copy import prepared_name
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.verify import compare_disks

pytestmark = pytest.mark.lab

LINUX_RULES = ["hyperv-drivers-in-initramfs", "fstab-by-uuid", "serial-console", "network-dhcp",
               "persistent-net-rules-removed", "vmware-tools-disabled", "azure-agent-enabled"]
WINDOWS_RULES = ["san-policy-online-all", "hyperv-drivers-boot-start", "dhcp-client-automatic", "rdp-enabled",
                 "vmware-tools-disabled", "azure-vm-agent-reported"]
# (rule, path pattern) of every change each guest's preparation must make, and nothing else.
EXPECTED_CHANGES = {
    "prep-rhel-01": {
        ("hyperv-drivers-in-initramfs", "/etc/dracut.conf.d/90-vmshift-hyperv.conf"),
        ("hyperv-drivers-in-initramfs", "/boot/initramfs-*.img"),
        ("fstab-by-uuid", "/etc/fstab"),
        ("serial-console", "/etc/default/grub"),
        ("serial-console", "/boot/grub2/grub.cfg"),
        ("network-dhcp", "/etc/sysconfig/network-scripts/ifcfg-ens192"),
        ("network-dhcp", "/etc/sysconfig/network-scripts/ifcfg-eth0"),
        ("persistent-net-rules-removed", "/etc/udev/rules.d/70-persistent-net.rules"),
        ("vmware-tools-disabled", "/etc/systemd/system/multi-user.target.wants/vmtoolsd.service"),
    },
    "prep-ubuntu-01": {
        ("hyperv-drivers-in-initramfs", "/etc/initramfs-tools/modules"),
        ("hyperv-drivers-in-initramfs", "/boot/initrd.img-*"),
        ("fstab-by-uuid", "/etc/fstab"),
        ("serial-console", "/etc/default/grub"),
        ("serial-console", "/boot/grub/grub.cfg"),
        ("network-dhcp", "/etc/netplan/00-installer-config.yaml"),
        ("network-dhcp", "/etc/netplan/50-vmshift-azure.yaml"),
        ("vmware-tools-disabled", "/etc/systemd/system/multi-user.target.wants/open-vm-tools.service"),
        ("azure-agent-enabled", "/etc/systemd/system/multi-user.target.wants/walinuxagent.service"),
        ("azure-agent-enabled", "/etc/cloud/cloud-init.disabled"),
    },
    "prep-debian-01": {
        ("hyperv-drivers-in-initramfs", "/etc/initramfs-tools/modules"),
        ("hyperv-drivers-in-initramfs", "/boot/initrd.img-*"),
        ("fstab-by-uuid", "/etc/fstab"),
        ("serial-console", "/etc/default/grub"),
        ("serial-console", "/boot/grub/grub.cfg"),
        ("network-dhcp", "/etc/network/interfaces"),
        ("vmware-tools-disabled", "/etc/systemd/system/multi-user.target.wants/open-vm-tools.service"),
    },
}
SYSTEM = "/Windows/System32/config/SYSTEM"
SERVICES = "HKLM\\SYSTEM\\ControlSet001\\Services"
EXPECTED_REGISTRY = {
    f"{SERVICES}\\partmgr\\Parameters\\SanPolicy": ("2", "1"),
    f"{SERVICES}\\storvsc\\Start": ("3", "0"),
    f"{SERVICES}\\vmbus\\Start": ("3", "0"),
    f"{SERVICES}\\netvsc\\Start": ("4", "3"),
    f"{SERVICES}\\Dhcp\\Start": ("3", "2"),
    "HKLM\\SYSTEM\\ControlSet001\\Control\\Terminal Server\\fDenyTSConnections": ("1", "0"),
    f"{SERVICES}\\VMTools\\Start": ("2", "4"),
    f"{SERVICES}\\VGAuthService\\Start": ("2", "4"),
}
FIREWALL = f"{SERVICES}\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules\\RemoteDesktop-UserMode-In-"
LINUX_GUESTS = list(EXPECTED_CHANGES)


def _matches(changes: set[tuple[str, str]], expected: set[tuple[str, str]]) -> tuple[set, set]:
    unexpected = {c for c in changes if not any(c[0] == r and fnmatch.fnmatch(c[1], p) for r, p in expected)}
    missing = {(r, p) for r, p in expected if not any(c[0] == r and fnmatch.fnmatch(c[1], p) for c in changes)}
    return unexpected, missing


@pytest.mark.parametrize("vm", LINUX_GUESTS)
def test_each_linux_guest_gets_the_rules_of_its_family_and_the_report_lists_every_change(
    vm: str, prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    preparation = prepared_guest(vm).preparation
    assert preparation.os.type == "linux" and preparation.rules == LINUX_RULES
    unexpected, missing = _matches({(c.rule, c.path) for c in preparation.changes}, EXPECTED_CHANGES[vm])
    assert not unexpected and not missing, (unexpected, missing)
    initramfs = [c for c in preparation.changes if c.path.startswith("/boot/init")]
    assert initramfs and all("lacks hv_vmbus, hv_storvsc" in (c.before or "") for c in initramfs)
    fstab = next(c for c in preparation.changes if c.path == "/etc/fstab")
    assert "/dev/sda" in (fstab.before or "") and "/dev/sd" not in (fstab.after or "")
    grub = next(c for c in preparation.changes if c.path.endswith("grub.cfg"))
    assert "console=ttyS0,115200n8" in (grub.after or "")
    # rootdelay=300 only where Azure documents it for the family (dracut); initramfs-tools would sleep 300 s.
    assert ("rootdelay=300" in (grub.after or "")) == (preparation.os.family == "redhat")


def test_the_guests_without_an_azure_agent_are_reported_not_changed(
    prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    for vm in ("prep-rhel-01", "prep-debian-01"):
        findings = prepared_guest(vm).preparation.findings
        assert [f.rule for f in findings] == ["azure-agent-enabled"], findings
        assert "WALinuxAgent" in findings[0].message
    assert prepared_guest("prep-ubuntu-01").preparation.findings == []


def test_the_windows_guest_gets_its_registry_rules_each_value_recorded_before_and_after(
    prepared_guest: Callable[[str], PreparedGuest], tmp_path: Path
) -> None:
    prepared = prepared_guest("prep-win-01")
    preparation = prepared.preparation
    assert preparation.os.type == "windows" and preparation.os.product == "Windows Server 2019 Datacenter"
    assert preparation.rules == WINDOWS_RULES
    recorded = {c.setting: (c.before, c.after) for c in preparation.changes}
    assert {c.path for c in preparation.changes} == {SYSTEM}
    for setting, values in EXPECTED_REGISTRY.items():
        assert recorded.pop(setting) == values, setting
    for protocol in ("TCP", "UDP"):
        before, after = recorded.pop(FIREWALL + protocol)
        assert "|Active=FALSE|" in (before or "") and after == (before or "").replace("Active=FALSE", "Active=TRUE")
    assert recorded == {}
    assert [f.rule for f in preparation.findings] == ["azure-vm-agent-reported"]


@pytest.mark.parametrize("vm", [*LINUX_GUESTS, "prep-win-01"])
def test_the_prepared_copy_is_the_recovery_point_plus_exactly_the_recorded_changes(
    vm: str, prepared_guest: Callable[[str], PreparedGuest], tmp_path: Path
) -> None:
    prepared = prepared_guest(vm)
    source, copy = LocalDiskReader(prepared.source), LocalDiskReader(prepared.prepared)
    # Bytes: outside the blocks the preparation wrote, the copy is the recovery point.
    expected = PreparedSourceReader(source, copy, prepared.preparation.changed_extents)
    assert compare_disks(expected, copy).equal
    assert not compare_disks(source, copy).equal
    # Files: those that differ are exactly those the report names.
    recorded = {c.path for c in prepared.preparation.changes}
    if vm == "prep-win-01":
        before = hive_values(ntfs_file(prepared.source, SYSTEM, tmp_path), "SYSTEM", tmp_path)
        after = hive_values(ntfs_file(prepared.prepared, SYSTEM, tmp_path), "SYSTEM", tmp_path)
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        assert changed == {c.setting for c in prepared.preparation.changes}
        return
    try:
        differing = differing_files(ext4_tree(prepared.source, tmp_path / "source"),
                                    ext4_tree(prepared.prepared, tmp_path / "prepared"))
    finally:  # the Debian guest's trees are 400 MiB each
        for tree in ("source", "prepared"):
            shutil.rmtree(tmp_path / tree, ignore_errors=True)
    assert differing == recorded


@pytest.mark.parametrize("vm", [*LINUX_GUESTS, "prep-win-01"])
def test_the_replica_and_its_recovery_point_stay_equal_to_the_source(
    vm: str, lab: dict, prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    prepared = prepared_guest(vm)
    datastore = "ds-nfs-02" if vm == "prep-debian-01" else "ds-ssd-01"
    # The VM's disk as vCenter holds it (its flat extent: no snapshot is open between cycles).
    installed = LocalDiskReader(Path(lab["vcenter"]["datastore_dir"][datastore]) / vm / f"{vm}-flat.vmdk")
    for snapshot in (prepared.snapshot_id, None):
        replica = prepared.replica.reader(snapshot)
        assert compare_disks(installed, replica).equal, f"{vm}: the replica ({snapshot or 'current'}) changed"


def test_a_retried_step_reuses_the_recovery_points_preparation_and_its_prepared_copy(
    prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    prepared = prepared_guest("prep-ubuntu-01")
    copy = prepared.replica.container.get_blob_client(prepared_name(prepared.replica.name, prepared.snapshot_id))
    written = copy.get_blob_properties().last_modified
    again = prepare_once(prepared.replica, prepared.snapshot_id, prepared.vm)
    assert again == prepared.preparation
    assert copy.get_blob_properties().last_modified == written  # not written again
