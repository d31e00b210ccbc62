"""vmshift asks every vCenter the plan's VMs live on for its privileges, as that vCenter's own user: a second vCenter
whose user lacks a documented privilege has `plan validate` and the flow's first task refuse its VMs, naming that
vCenter, the privilege, the object and the role that grants it; the default vCenter's VMs still pass."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from plan_helpers import example_rows, write_rows
from second_vcenter import one_vm_vcenter, second_vcenter_running

from flows.migrate_wave import migrate_wave
from vmshift.migration.access import AccessMissing, check_access
from vmshift.migration.appliance import Appliance
from vmshift.migration.live_checks import live_checks_from_env
from vmshift.plan import parse_start_at, validate_plan
from vmshift.steps import MigrationStep
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME, role_privileges
from vmshift.vsphere.snapshots import find_snapshots

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

SECOND = "vcenter-b.lab.local"
VM = "vcb-app-01"  # lives in the second vCenter only
LACKING = "VirtualMachine.State.CreateSnapshot"
SPEC = one_vm_vcenter(SECOND, "B", VM, "efi", 8)


@pytest.fixture(scope="module")
def second_vcenter(lab: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A second vCenter beside the lab's, its user holding the documented role but for LACKING."""
    with second_vcenter_running(lab, tmp_path_factory.mktemp("second-vcenter"), SPEC,
                                [p for p in role_privileges() if p != LACKING]) as entry:
        yield entry


def _plan(folder: Path) -> Path:
    """The example plan's rows (win-sql-01 and web-rhel-02 in the default vCenter) and a row for VM in SECOND."""
    rows = example_rows()
    rows.append({**rows[1], "source_vm": VM, "vcenter": SECOND, "target_vm_name": VM, "nics": "", "disks": ""})
    return write_rows(folder / "two-vcenters.csv", rows)


def test_plan_validate_names_the_second_vcenter_and_the_privilege_its_user_lacks(second_vcenter: dict,
                                                                                   tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    with live_checks_from_env(lambda vm: None) as checks:
        assert checks.vcenter_hosts[1:] == (SECOND,)
        result = validate_plan(plan, checks=checks, start_at=parse_start_at("now"))

    row = len(example_rows()) + 2  # the header is row 1
    lacking = [e for e in result.errors if "lacks" in e.message and "vCenter" in e.message]
    assert {(e.row, e.column) for e in lacking} == {(row, "source_vm")}, result.errors  # default VMs pass
    message = lacking[0].message
    assert f"vCenter user {second_vcenter['user']} lacks {LACKING} on VirtualMachine {VM}" in message
    assert f"in vCenter {SECOND}" in message and "needed for replication, cutover" in message
    assert f"the vCenter role '{ROLE_NAME}' ({ROLE_FILE}) grants it" in message
    assert not [e for e in result.errors if e.row == row and e.column in ("vcenter", "source_vm")
                and e not in lacking]  # SECOND is known, and VM is found in its inventory


def test_a_wave_with_a_vm_in_the_second_vcenter_fails_at_its_start_naming_it(second_vcenter: dict,
                                                                            tmp_path: Path) -> None:
    wave = validate_plan(_plan(tmp_path), now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors().waves[0]
    state = asyncio.run(migrate_wave(dataclasses.replace(wave, name="two-vcenters"), Appliance(),
                                     return_state=True))
    assert state.is_failed()  # no flow reports success
    with pytest.raises(Exception) as raised:
        state.result()
    refused = str(raised.value)
    assert f"vCenter user {second_vcenter['user']} lacks 1 privilege(s) vmshift needs for replication in " \
           f"vCenter {SECOND}" in refused
    assert f"{LACKING} on VirtualMachine {VM}" in refused and ROLE_FILE in refused
    assert "win-sql-01" not in refused and "web-rhel-02" not in refused  # the default vCenter grants them
    config = VCenterConfig.named_in_plan(SECOND)
    with connect(config) as session:
        assert session.config.user == second_vcenter["user"]
        assert find_snapshots(find_vm(session, VM), OWN_SNAPSHOT_PREFIX) == []  # touched nothing


def test_the_default_vcenters_vms_still_pass_the_check_of_every_step(second_vcenter: dict, tmp_path: Path) -> None:
    wave = validate_plan(_plan(tmp_path), now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors().waves[0]
    default_rows = [vm for vm in wave.vms if not vm.vcenter]
    assert [vm.source_vm for vm in default_rows] == ["win-sql-01", "web-rhel-02"]
    for step in (MigrationStep.REPLICATION, MigrationStep.CUTOVER):
        check_access(step, Appliance(), default_rows)  # raises nothing
        with pytest.raises(AccessMissing, match=f"in vCenter {SECOND}"):
            check_access(step, Appliance(), wave.vms)
