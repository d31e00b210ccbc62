"""A wave through every flow against the lab's servers: vcsim, Azurite, the ARM simulator and its DNS.

The story of a migration team: replicate a wave, sync the guests' changes, see the cutover refused before any
test migration, test-migrate and clean up, see a cutover interrupted after the sources' shutdown leave them
running again, cut over with every disk proven byte for byte once the VMs run, then roll one VM back to its
source, complete the other's migration and see its rollback refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from due_now import DUE_NOW
from local_steps import EXAMPLE_PLAN

from flows.cleanup_test_migration import cleanup_test_migration
from flows.complete_migration import complete_migration
from flows.cutover import cutover
from flows.delta_sync import delta_sync
from flows.migrate_wave import migrate_wave
from flows.rollback import rollback
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.lab.guest import write_guest
from vmshift.migration import cutover as azure_cutover
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.plan.validation import validate_plan
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
VMS = {"flow-web-01": "web-rhel-02", "flow-db-02": "win-sql-01"}  # lab VM → example row it is planned like
BROKEN_VM = "flow-broken-01"  # only a state document, and a broken one


def lab_wave() -> Wave:
    """The example plan's wave 1, for this test's own VMs, its cutover window open now, one application group."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    rows = {vm.source_vm: vm for vm in plan.waves[0].vms}
    planned = tuple(
        dataclasses.replace(rows[template], source_vm=vm, target_vm_name=vm, nics=(), cutover_window=window,
                            application_group="flow-shop", cache_storage_account=CACHE)
        for vm, template in VMS.items())
    return dataclasses.replace(plan.waves[0], name="flow-lab", vms=planned, cutover_window=window)


def outcomes(result: dict) -> dict[str, str]:
    return {row["vm"]: row["outcome"] for row in result["vms"]}


def test_a_wave_replicates_is_refused_untested_then_test_migrates_cuts_over_and_rolls_back(lab: dict) -> None:
    wave, appliance = lab_wave(), Appliance()

    replicated = asyncio.run(migrate_wave(wave, appliance))
    assert outcomes(replicated) == dict.fromkeys(VMS, "protected"), replicated

    write_guest(lab, "flow-web-01", 1 << 20, b"written by the guest after the initial cycle" * 64)
    # Another VM's state document is broken: it is named with what to do, and hides nobody else's cycle.
    states = StateStore.for_account(CACHE)
    broken = states.container.get_blob_client(states.blob_name(BROKEN_VM))
    broken.upload_blob(b'{"vm": "flow-broken-01", "phase":', overwrite=True)
    try:
        synced = asyncio.run(delta_sync([CACHE], appliance, **DUE_NOW, vms=[*VMS, BROKEN_VM]))
        status = subprocess.run([sys.executable, "-m", "cli.command", "status", "--cache-account", CACHE, "--json"],
                                capture_output=True, text=True, timeout=120, check=False)
    finally:
        broken.delete_blob()
    assert sorted(synced["due"]) == sorted(VMS)
    changed = {row["vm"]: row for row in synced["vms"]}
    assert changed["flow-web-01"]["outcome"] == "protected" and changed["flow-web-01"]["changed_bytes"] > 0
    assert changed[BROKEN_VM]["outcome"] == "failed" and broken.url in changed[BROKEN_VM]["error"]
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert status.stderr.startswith(f"error: state blob {broken.url} is not JSON"), status.stderr
    shown = json.loads(status.stdout.strip().splitlines()[-1])
    assert set(VMS) <= {row["name"] for row in shown["vms"]}
    assert [entry["vm"] for entry in shown["unreadable"]] == [BROKEN_VM]

    refused = asyncio.run(cutover(wave, appliance=appliance))
    assert outcomes(refused) == dict.fromkeys(VMS, "refused")
    assert all("never test-migrated" in row["error"] for row in refused["vms"])

    tested = asyncio.run(run_test_migrate(wave, appliance=appliance))
    assert outcomes(tested) == dict.fromkeys(VMS, "test-migrated"), tested
    cleaned = asyncio.run(cleanup_test_migration(wave))
    assert outcomes(cleaned) == dict.fromkeys(VMS, "cleaned")
    assert all(row["deleted"] for row in cleaned["vms"])

    def interrupted(*_: object) -> None:
        raise ConnectionAbortedError("disk import interrupted")
    with pytest.MonkeyPatch.context() as patch:  # a failure after the sources were shut down
        patch.setattr(azure_cutover, "import_disks", interrupted)
        failed = asyncio.run(cutover(wave, appliance=appliance, shutdown_timeout_s=5))
    assert outcomes(failed) == dict.fromkeys(VMS, "failed")
    assert all("source was powered on again" in row["error"] for row in failed["vms"])
    session = connect(VCenterConfig.from_env())
    assert all(inventory.find_vm(session, vm).runtime.powerState == "poweredOn" for vm in VMS)

    migrated = asyncio.run(cutover(wave, appliance=appliance, shutdown_timeout_s=5))
    assert outcomes(migrated) == dict.fromkeys(VMS, "migrated"), migrated
    for row in migrated["vms"]:
        assert row["verification"] == "passed" and row["downtime_s"] > 0, row
        assert all(disk["first_difference"] is None for disk in row["disks"])

    again = asyncio.run(cutover(wave, appliance=appliance))
    assert outcomes(again) == dict.fromkeys(VMS, "refused")
    for row in again["vms"]:  # when, and by which run
        assert row["error"].startswith("cut over at ") and "(cutover), by " in row["error"], row["error"]
        assert "already cut over: complete the migration, or roll it back" in row["error"]

    rolled_back = asyncio.run(rollback(wave, vms=["flow-web-01"]))
    assert outcomes(rolled_back) == {"flow-web-01": "rolled-back"}, rolled_back
    assert inventory.find_vm(session, "flow-web-01").runtime.powerState == "poweredOn"

    completed = asyncio.run(complete_migration(wave, vms=["flow-db-02"]))
    assert outcomes(completed) == {"flow-db-02": "completed"}, completed
    refused_rollback = asyncio.run(rollback(wave, vms=["flow-db-02"]))
    assert outcomes(refused_rollback) == {"flow-db-02": "refused"}, refused_rollback
    assert "completed" in refused_rollback["vms"][0]["error"]
    assert inventory.find_vm(session, "flow-db-02").runtime.powerState == "poweredOff"
