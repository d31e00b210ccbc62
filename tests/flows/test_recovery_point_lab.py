"""A test migration from the recovery point asked for: the test VM's disks are imported from that cycle's blob
snapshots, not the latest; a point the VM does not have fails that VM before anything is built, naming the points
it has; a choice not written as one fails the run before anything is asked."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from local_steps import EXAMPLE_PLAN

from flows.cleanup_test_migration import cleanup_test_migration
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.clients import connect as azure
from vmshift.lab.guest import write_guest
from vmshift.plan.recovery_point import RecoveryPointInvalid
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.plan.validation import validate_plan
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness", "cache_reached_privately")]

CACHE = "vmshiftcache01"
VM = "flow-point-01"


def one_vm_wave() -> Wave:
    """The example plan's web-rhel-02 row (Linux, one disk, no OS preparation) for this test's VM."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    row = dataclasses.replace(template, source_vm=VM, target_vm_name=VM, nics=(), cutover_window=window,
                              application_group=None, cache_storage_account=CACHE)
    return dataclasses.replace(plan.waves[0], name="flow-point", vms=(row,), cutover_window=window)


def test_a_test_migration_builds_from_the_cycle_asked_for_and_names_the_points_when_there_is_none(lab: dict) -> None:
    session = connect(VCenterConfig.from_env())
    for cycle, text in enumerate((b"the guest at cycle 1", b"the guest at cycle 2"), start=1):
        write_guest(lab, VM, 0, text * 500)
        assert replicate_once(VM, session=session, settings=ReplicationSettings(CACHE))["cycle"] == cycle
    first, second = StateStore.for_account(CACHE).load(VM).state.recovery_points
    wave = one_vm_wave()

    with pytest.raises(RecoveryPointInvalid, match="allowed: latest, a cycle number"):
        asyncio.run(run_test_migrate(wave, recovery_point="yesterday"))
    [missing] = asyncio.run(run_test_migrate(wave, recovery_point="cycle:9"))["vms"]
    assert missing["outcome"] == "failed"
    assert f"{VM} has no recovery point cycle:9; its points: cycle:1 (" in missing["error"], missing
    compute = azure().compute
    assert not [vm for vm in compute.virtual_machines.list("rg-target") if vm.name.startswith(VM)]

    [built] = asyncio.run(run_test_migrate(wave, recovery_point="cycle:1"))["vms"]
    try:
        assert (built["outcome"], built["recovery_point"]) == ("test-migrated", 1), built
        test_vm = compute.virtual_machines.get("rg-target", built["test_vm"])
        os_disk = compute.disks.get("rg-target", test_vm.storage_profile.os_disk.managed_disk.id.rsplit("/", 1)[1])
        [snapshot] = first.blob_snapshots.values()
        assert os_disk.creation_data.source_uri.endswith(f"snapshot={snapshot}"), os_disk.creation_data.source_uri
        assert snapshot not in second.blob_snapshots.values()  # the latest point is another one
    finally:
        assert asyncio.run(cleanup_test_migration(wave))["vms"][0]["outcome"] == "cleaned"
