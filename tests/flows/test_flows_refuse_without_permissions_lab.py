"""A flow whose step vCenter or Azure would refuse halfway is refused at its start instead: it ends Failed (no
flow reports success), its error names every missing privilege and action with the object or scope and the role
that grants it, and nothing was touched."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from local_steps import EXAMPLE_PLAN

from flows.migrate_wave import migrate_wave
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.permissions import OPERATOR_ROLE, SUBSCRIPTION_ROLE, role_actions
from vmshift.lab.azure_roles import azure_roles_held
from vmshift.lab.vcenter_role import role_held
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm
from vmshift.vsphere.privileges import ROLE_NAME, role_privileges
from vmshift.vsphere.snapshots import find_snapshots

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]


def example_wave() -> Wave:
    """The example plan's first wave (win-sql-01 and web-rhel-02, both in the lab's vCenter)."""
    return validate_plan(EXAMPLE_PLAN, now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors().waves[0]


def _without(action: str) -> tuple[list[dict], list[dict]]:
    operator = {"Name": f"{OPERATOR_ROLE.name} flows", "Actions": [a for a in role_actions(OPERATOR_ROLE)
                                                                  if a != action]}
    return ([{"role": SUBSCRIPTION_ROLE.name, "scope": ""},
             *({"role": operator["Name"], "scope": f"resourceGroups/{g}"} for g in ("rg-migration", "rg-hub",
                                                                                    "rg-target"))], [operator])


def test_a_test_migration_without_disk_write_fails_at_its_start_naming_it_and_builds_nothing(lab: dict, owner) -> None:
    before = {d.name for d in owner.compute.disks.list_by_resource_group("rg-target")}
    assignments, roles = _without("Microsoft.Compute/disks/write")
    with azure_roles_held(lab, assignments, roles):
        state = asyncio.run(run_test_migrate(example_wave(), return_state=True))
    assert state.is_failed()
    with pytest.raises(Exception) as raised:
        state.result()
    assert "Microsoft.Compute/disks/write" in str(raised.value) and "rg-target" in str(raised.value)
    assert OPERATOR_ROLE.file in str(raised.value) and "nothing was created" in str(raised.value)
    assert {d.name for d in owner.compute.disks.list_by_resource_group("rg-target")} == before


def test_a_wave_without_the_snapshot_privilege_fails_at_its_start_naming_it_and_touches_nothing(lab: dict) -> None:
    wave = dataclasses.replace(example_wave(), name="no-snapshot")
    with role_held(lab, ROLE_NAME, [p for p in role_privileges() if p != "VirtualMachine.State.CreateSnapshot"]):
        state = asyncio.run(migrate_wave(wave, Appliance(), return_state=True))
    assert state.is_failed()
    with pytest.raises(Exception) as raised:
        state.result()
    assert "VirtualMachine.State.CreateSnapshot" in str(raised.value)
    assert all(vm in str(raised.value) for vm in ("win-sql-01", "web-rhel-02"))  # every VM it lacks it on
    with connect(VCenterConfig.from_env()) as session:
        for vm in ("win-sql-01", "web-rhel-02"):
            assert find_snapshots(find_vm(session, vm), OWN_SNAPSHOT_PREFIX) == []
