"""vmshift refuses early and clearly when its vCenter user lacks a privilege: the lab's vCenter enforces the role
its user holds (the documented one), and vmshift asks HasPrivilegeOnEntities before a step starts."""

from __future__ import annotations

import pytest
from pyVmomi import vim

from vmshift.lab.vcenter_role import role_held, vcenter_role
from vmshift.steps import MigrationStep
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import DatastoreReadError, PrivilegesMissing, SnapshotError
from vmshift.vsphere.inventory import find_vm, vm_disks
from vmshift.vsphere.privileges import ROLE_FILE, check_privileges, missing_privileges, role_privileges
from vmshift.vsphere.snapshots import create_snapshot, find_snapshots

SYSTEM = {"System.Anonymous", "System.Read", "System.View"}


def without(*privileges: str) -> list[str]:
    return [p for p in role_privileges() if p not in privileges]


def test_the_lab_user_holds_exactly_the_documented_role(lab: dict) -> None:
    role = vcenter_role(lab)
    assert role["user"] == lab["vcenter"]["user"]
    assert set(role["privileges"]) == set(role_privileges()) | SYSTEM


def test_every_phase_passes_the_check_with_the_documented_role(session: VSphereSession) -> None:
    vm = find_vm(session, "vsphere-lib-01")
    for step in MigrationStep:
        check_privileges(session, step, [vm])


def test_a_snapshot_without_its_privilege_is_refused_naming_privilege_vm_and_role(
    lab: dict, session: VSphereSession
) -> None:
    vm = find_vm(session, "vsphere-lib-01")
    with role_held(lab, "vmshift", without("VirtualMachine.State.CreateSnapshot")), \
            pytest.raises(SnapshotError) as refused:
        create_snapshot(session, vm, "vmshift-denied")
    message = str(refused.value)
    assert "VirtualMachine.State.CreateSnapshot" in message and vm._moId in message and ROLE_FILE in message
    assert isinstance(refused.value.__cause__, vim.fault.NoPermission)
    assert find_snapshots(vm, "vmshift-denied") == []


def test_a_disk_read_without_datastore_file_management_names_the_privilege(
    lab: dict, session: VSphereSession
) -> None:
    disk = vm_disks(find_vm(session, "vsphere-lib-01"))[0]
    reader = open_disk(session, disk.datastore_path, disk.capacity_bytes)
    with role_held(lab, "vmshift", without("Datastore.FileManagement")), pytest.raises(DatastoreReadError) as refused:
        reader.read(0, 512)
    assert "Datastore.FileManagement" in str(refused.value) and "403" in str(refused.value)
    assert len(reader.read(0, 512)) == 512


def test_the_check_lists_every_missing_privilege_of_the_phase_on_every_object_at_once(
    lab: dict, session: VSphereSession
) -> None:
    vms = [find_vm(session, "vsphere-lib-01"), find_vm(session, "app-linux-01")]
    lacking = ("VirtualMachine.Provisioning.DiskRandomRead", "Datastore.Browse", "VirtualMachine.Interact.PowerOff")
    with role_held(lab, "vmshift", without(*lacking)):
        with pytest.raises(PrivilegesMissing) as refused:
            check_privileges(session, MigrationStep.REPLICATION, vms)
        cutover = {(m.privilege, m.moref) for m in missing_privileges(session, MigrationStep.CUTOVER, vms)}
        assert missing_privileges(session, MigrationStep.DISCOVERY, vms) == []

    found = {(m.privilege, m.object_name) for m in refused.value.missing}
    datastores = {ds.name for vm in vms for ds in vm.datastore}
    assert found == {("VirtualMachine.Provisioning.DiskRandomRead", vm.name) for vm in vms} | {
        ("Datastore.Browse", ds) for ds in datastores
    }
    assert "VirtualMachine.Interact.PowerOff" not in str(refused.value)  # replication does not power anything off
    assert {("VirtualMachine.Interact.PowerOff", vm._moId) for vm in vms} <= cutover
    message = str(refused.value)
    assert lab["vcenter"]["user"] in message and "replication" in message and ROLE_FILE in message
