"""Readiness reads what vCenter says of a VM: an existing snapshot blocks it, several NICs only warn."""

from __future__ import annotations

from vmshift.migration.readiness import replication_readiness
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.facts import facts_from_inventory
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm, inventory
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot

VM = "win-iis-03"


def test_inventory_reports_host_snapshots_nics_and_disk_modes(session: VSphereSession) -> None:
    rows = inventory(session).set_index("vm")
    assert rows.loc[VM, "host"] == "esx-02.lab.local"
    assert rows.loc[VM, "snapshot_count"] == 0
    assert rows.loc["web-rhel-02", "nic_count"] == 2
    assert (rows.loc[VM, "disk_sharing"], rows.loc[VM, "disk_mode"], rows.loc[VM, "disk_rdm"]) == (
        "sharingNone", "persistent", False)


def test_a_snapshot_taken_outside_vmshift_blocks_replication(session: VSphereSession) -> None:
    assert replication_readiness(facts_from_inventory(inventory(session))[VM]).ready
    snapshot = create_snapshot(session, find_vm(session, VM), "before-patching", "a team's own snapshot")
    try:
        verdict = replication_readiness(facts_from_inventory(inventory(session))[VM])
    finally:
        remove_snapshot(session, snapshot)
    assert not verdict.ready
    assert any("snapshot" in reason for reason in verdict.blocking)


def test_a_leftover_vmshift_snapshot_does_not_block_the_rerun_that_removes_it(session: VSphereSession) -> None:
    snapshot = create_snapshot(session, find_vm(session, VM), f"{OWN_SNAPSHOT_PREFIX}{VM}-cycle-3")
    try:
        verdict = replication_readiness(facts_from_inventory(inventory(session))[VM])
    finally:
        remove_snapshot(session, snapshot)
    assert verdict.ready, verdict.blocking


def test_several_nics_warn_and_do_not_block(session: VSphereSession) -> None:
    verdict = replication_readiness(facts_from_inventory(inventory(session))["web-rhel-02"])
    assert verdict.ready
    assert any("NIC" in warning for warning in verdict.warnings)
