"""Each documented vCenter privilege taken away in turn, the others kept: the check at the start of every step
that needs it refuses naming it, before anything is touched, the flow of each such step fails naming it (no flow
reports success), and the vSphere call that needs it is refused by the lab's vCenter naming it too, so the
documented role is exactly what vmshift uses. The VM's snapshots are listed before and after: the checks and the
flows take none, and one the call took before it was refused is named in its error."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyVmomi import vim
from step_flows import STEP_FLOWS

from vmshift.lab.vcenter_role import role_held
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan
from vmshift.steps import MigrationStep
from vmshift.vsphere.cbt import ALL_ALLOCATED, changed_areas, disable_cbt, enable_cbt
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import PrivilegesMissing, VSphereError
from vmshift.vsphere.inventory import find_vm, snapshot_trees
from vmshift.vsphere.power import power_off, power_on, shutdown_guest
from vmshift.vsphere.privileges import REQUIRED_PRIVILEGES, ROLE_NAME, check_privileges, role_privileges
from vmshift.vsphere.snapshots import create_snapshot, find_snapshots, remove_snapshot, snapshot_disks

pytestmark = pytest.mark.usefixtures("prefect_harness")

EXAMPLE_PLAN = Path(__file__).parents[2] / "examples" / "waves.csv"
VM = "vsphere-lib-01"
PREFIX = "vmshift-privilege-"


@pytest.fixture
def vm(session: VSphereSession) -> Iterator[vim.VirtualMachine]:
    """The VM as the other tests find it afterwards: on, CBT as it was, no snapshot of these tests."""
    found = find_vm(session, VM)
    tracking = bool(found.config.changeTrackingEnabled)
    yield found
    power_on(session, found)
    for snapshot in find_snapshots(found, PREFIX):
        remove_snapshot(session, snapshot)
    (enable_cbt if tracking else disable_cbt)(session, found)


def _snapshot(session: VSphereSession, vm: vim.VirtualMachine) -> vim.vm.Snapshot:
    return create_snapshot(session, vm, PREFIX + "frozen")


# The vSphere call each privilege is for, run with the privilege taken away; `ready` runs before with the full role.
CALLS: dict[str, tuple[Callable[..., object], Callable[..., object]]] = {
    "VirtualMachine.Config.ChangeTracking": (
        lambda session, vm: disable_cbt(session, vm), lambda session, vm, _: enable_cbt(session, vm)),
    "VirtualMachine.State.CreateSnapshot": (lambda session, vm: None, lambda session, vm, _: _snapshot(session, vm)),
    "VirtualMachine.State.RemoveSnapshot": (
        _snapshot, lambda session, vm, snapshot: remove_snapshot(session, snapshot)),
    "VirtualMachine.Provisioning.DiskRandomRead": (
        lambda session, vm: (enable_cbt(session, vm), _snapshot(session, vm))[1],
        lambda session, vm, snapshot: changed_areas(session, vm, snapshot, 2000, ALL_ALLOCATED)),
    "Datastore.Browse": (_snapshot, lambda session, vm, snapshot: _read(session, snapshot)),
    "Datastore.FileManagement": (_snapshot, lambda session, vm, snapshot: _read(session, snapshot)),
    "VirtualMachine.Interact.PowerOff": (lambda session, vm: None, lambda session, vm, _: shutdown_guest(
        session, vm, timeout_s=10, power_off_after=True)),
    "VirtualMachine.Interact.PowerOn": (lambda session, vm: power_off(session, vm),
                                        lambda session, vm, _: power_on(session, vm)),
}


def one_vm_wave() -> Wave:
    """The example plan's web-rhel-02 row for VM."""
    plan = validate_plan(EXAMPLE_PLAN, now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors()
    template = next(row for row in plan.waves[0].vms if row.source_vm == "web-rhel-02")
    row = dataclasses.replace(template, source_vm=VM, target_vm_name=VM, application_group=None)
    return dataclasses.replace(plan.waves[0], name="privilege-taken-away", vms=(row,))


def _snapshots(vm: vim.VirtualMachine) -> dict[str, str]:
    """The VM's snapshots as vCenter lists them: name by managed object id."""
    info = vm.snapshot
    return {tree.snapshot._moId: tree.name for tree in snapshot_trees(info.rootSnapshotList if info else None)}


def _read(session: VSphereSession, snapshot: vim.vm.Snapshot) -> bytes:
    disk = snapshot_disks(snapshot)[0]
    return open_disk(session, disk.datastore_path, disk.capacity_bytes).read(0, 512)


def test_every_documented_privilege_has_its_call() -> None:
    assert set(CALLS) == set(role_privileges())


@pytest.mark.parametrize("privilege", role_privileges())
def test_without_a_privilege_each_step_needing_it_is_refused_and_its_call_fails_naming_it(
    lab: dict, session: VSphereSession, vm: vim.VirtualMachine, privilege: str
) -> None:
    ready, call = CALLS[privilege]
    prepared = ready(session, vm)
    before = _snapshots(vm)
    steps = [step for r in REQUIRED_PRIVILEGES if r.privilege == privilege for step in r.steps]
    with role_held(lab, ROLE_NAME, [p for p in role_privileges() if p != privilege]):
        for step in steps:
            with pytest.raises(PrivilegesMissing) as refused:
                check_privileges(session, step, [vm])
            assert {m.privilege for m in refused.value.missing} == {privilege}, step
            if step in STEP_FLOWS:
                state = asyncio.run(STEP_FLOWS[step](one_vm_wave(), Appliance()))
                assert state.is_failed() and privilege in str(state.message), (step, state.message)
        others = [p for p in MigrationStep if p not in steps]
        for step in others:
            check_privileges(session, step, [vm])
        assert _snapshots(vm) == before  # refused before anything was touched
        with pytest.raises(VSphereError) as failed:
            call(session, vm, prepared)
    assert privilege in str(failed.value)
    taken = {moref: name for moref, name in _snapshots(vm).items() if moref not in before}
    assert {name for name in taken.values() if name not in str(failed.value)} == set(), failed.value
