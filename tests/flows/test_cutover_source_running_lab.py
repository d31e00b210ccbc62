"""A plan row with `turn_off_source=no`: the cutover flow migrates the VM on the lab and leaves its source running,
its final delta's snapshot kept until the migrated disks are proven, and gone afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from local_steps import EXAMPLE_PLAN

from flows.cutover import cutover
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.plan.validation import validate_plan
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness", "cache_reached_privately")]

CACHE = "vmshiftcache01"
VM = "flow-run-01"


def running_source_wave() -> Wave:
    """The example plan's web-rhel-02 row, for this test's VM, with `turn_off_source=no` and its cutover window open."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")  # Linux, one disk
    row = dataclasses.replace(template, source_vm=VM, target_vm_name=VM, nics=(), cutover_window=window,
                              application_group=None, cache_storage_account=CACHE, turn_off_source=False)
    return dataclasses.replace(plan.waves[0], name="flow-running", vms=(row,), cutover_window=window)


def test_a_vm_planned_not_to_turn_off_its_source_is_migrated_with_its_source_still_running(lab: dict) -> None:
    session = connect(VCenterConfig.from_env())
    write_guest(lab, VM, 0, b"before the initial cycle" * 100)
    replicate_once(VM, session=session, settings=ReplicationSettings(CACHE))

    migrated = asyncio.run(cutover(running_source_wave(), appliance=Appliance(), skip_test_migration=True,
                                   shutdown_timeout_s=5))

    [row] = migrated["vms"]
    assert row["outcome"] == "migrated", row
    assert row["verification"] == "passed" and all(disk["first_difference"] is None for disk in row["disks"])
    source = inventory.find_vm(session, VM)
    assert source.runtime.powerState == "poweredOn"
    assert snapshots.find_snapshots(source, OWN_SNAPSHOT_PREFIX) == []
