"""Readiness to replicate (Azure Migrate's support matrix) and the cutover gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from vmshift.migration.readiness import (
    TIB,
    CutoverFacts,
    CutoverPolicy,
    cutover_decisions,
    readiness_table,
    replication_readiness,
)
from vmshift.schedule import BlackoutWindow
from vmshift.vsphere.facts import DiskFacts, VmFacts, facts_from_inventory

MIB = 1024**2


def vm(name: str = "app-linux-01", disks: tuple[DiskFacts, ...] | None = None, **extra) -> VmFacts:
    disks = disks or (DiskFacts(2000, 64 * MIB, "[ds-ssd-01] app-linux-01/app-linux-01.vmdk"),)
    return VmFacts(name=name, guest_os="ubuntu64Guest", firmware="bios", disks=disks, **extra)


def test_a_plain_vm_is_ready() -> None:
    verdict = replication_readiness(vm())
    assert verdict.ready and verdict.warnings == ()


def test_existing_snapshots_block_that_vm_with_the_reason() -> None:
    verdict = replication_readiness(vm(snapshot_count=2))
    assert not verdict.ready
    assert "2 existing snapshot(s) keep CBT from being enabled" in verdict.blocking[0]


def test_shared_independent_and_multiwriter_disks_block() -> None:
    disks = (
        DiskFacts(2000, 64 * MIB, "[ds] a/a.vmdk"),
        DiskFacts(2001, 64 * MIB, "[ds] a/a_1.vmdk", sharing="sharingMultiWriter"),
        DiskFacts(2002, 64 * MIB, "[ds] a/a_2.vmdk", mode="independent_persistent"),
    )
    blocking = replication_readiness(vm(disks=disks)).blocking
    assert any("disk 2001" in reason and "multi-writer" in reason for reason in blocking)
    assert any("disk 2002" in reason and "independent" in reason for reason in blocking)


def test_disk_size_limits_depend_on_firmware() -> None:
    big_os = (DiskFacts(2000, 3 * TIB, "[ds] a/a.vmdk"),)
    assert not replication_readiness(vm(disks=big_os)).ready  # BIOS: 2 TiB
    assert replication_readiness(VmFacts("a", "rhel8_64Guest", "efi", big_os)).ready  # EFI: 4 TiB
    huge_data = (DiskFacts(2000, 64 * MIB, "[ds] a/a.vmdk"), DiskFacts(2001, 33 * TIB, "[ds] a/a_1.vmdk"))
    assert "over Azure's 32 TiB" in replication_readiness(vm(disks=huge_data)).blocking[0]


def test_more_than_64_data_disks_block() -> None:
    disks = tuple(DiskFacts(2000 + i, MIB, f"[ds] a/a_{i}.vmdk") for i in range(66))
    assert "65 data disks, over Azure's 64" in replication_readiness(vm(disks=disks)).blocking


def test_a_name_azure_refuses_blocks() -> None:
    assert not replication_readiness(vm(name="db_01.")).ready
    windows = VmFacts("win-sql-cluster-node-01", "windows2019srv_64Guest", "efi", vm().disks)
    assert "Azure allows 15" in replication_readiness(windows).blocking[0]
    assert replication_readiness(VmFacts("win-sql-cluster-node-01", "windows2019srv_64Guest", "efi", vm().disks,
                                         target_name="sqlnode01")).ready


def test_rdm_non_ascii_paths_and_several_nics_only_warn() -> None:
    disks = (DiskFacts(2000, 64 * MIB, "[ds] café/café.vmdk"), DiskFacts(2001, 64 * MIB, "[ds] a/rdm.vmdk", rdm=True))
    verdict = replication_readiness(vm(disks=disks, nic_count=2))
    assert verdict.ready
    assert len(verdict.warnings) == 3


def test_the_table_has_one_row_per_vm() -> None:
    table = readiness_table([replication_readiness(vm()), replication_readiness(vm("b", snapshot_count=1))])
    assert table["ready"].tolist() == [True, False]


def test_facts_are_read_from_the_inventory_table_one_row_per_disk() -> None:
    base = {"vm": "win-sql-01", "guest_os": "windows2019srv_64Guest", "firmware": "efi", "power_state": "poweredOn"}
    table = pd.DataFrame([
        base | {"disk_key": 2000, "capacity_bytes": 64 * MIB, "datastore_path": "[ds-ssd-01] w/w.vmdk", "cbt": False},
        base | {"disk_key": 2001, "capacity_bytes": 32 * MIB, "datastore_path": "[ds-nfs-02] w/w_1.vmdk", "cbt": False},
        {"vm": "empty", "guest_os": "otherGuest", "firmware": "bios", "power_state": "poweredOff"},
    ])
    facts = facts_from_inventory(table, {"win-sql-01": "sql01"})
    sql = facts["win-sql-01"]
    assert sql.is_windows and sql.target_name == "sql01" and [d.key for d in sql.disks] == [2000, 2001]
    assert sql.datastores == ("ds-nfs-02", "ds-ssd-01")
    assert facts["empty"].disks == () and not replication_readiness(facts["empty"]).ready


# Cutover gates ------------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)  # a Wednesday
POLICY = CutoverPolicy(max_delta_age=timedelta(hours=2))


def ready_to_cut(name: str = "app-linux-01", **changes) -> CutoverFacts:
    facts = {"vm": name, "last_delta_end": NOW - timedelta(minutes=30), "test_migrated": True,
             "window_start": NOW - timedelta(hours=1), "window_end": NOW + timedelta(hours=3)} | changes
    return CutoverFacts(**facts)


def refusals(facts: CutoverFacts, policy: CutoverPolicy = POLICY) -> list[str]:
    return cutover_decisions([facts], NOW, policy)[facts.vm]


def test_a_vm_in_good_shape_may_cut_over() -> None:
    assert refusals(ready_to_cut()) == []


def test_cutover_refused_when_last_delta_is_stale() -> None:
    assert "run a delta cycle first" in refusals(ready_to_cut(last_delta_end=NOW - timedelta(hours=3)))[0]


def test_cutover_refused_with_the_reason_the_vms_phase_gives() -> None:
    failing = ("failing to replicate at 2026-11-25 19:00:00 UTC by run 7f3e (delta-sync) (HttpResponseError: 403); "
               "replication is failing: fix what its error says (`vmshift status --vm app-linux-01`) and let a delta "
               "cycle succeed, then cut over")
    assert refusals(ready_to_cut(phase_refusal=failing)) == [failing]


def test_cutover_refused_when_never_test_migrated_unless_skipped() -> None:
    assert "never test-migrated" in refusals(ready_to_cut(test_migrated=False))[0]
    assert refusals(ready_to_cut(test_migrated=False), CutoverPolicy(max_delta_age=timedelta(hours=2),
                                                                     skip_test_migration=True)) == []


def test_cutover_refused_outside_the_window() -> None:
    assert "it opens at" in refusals(ready_to_cut(window_start=NOW + timedelta(hours=1)))[0]
    assert "it closed at" in refusals(ready_to_cut(window_end=NOW - timedelta(minutes=1)))[0]


def test_cutover_refused_before_the_vms_own_time_and_in_a_blackout() -> None:
    assert "own cutover time" in refusals(ready_to_cut(cutover_at=NOW + timedelta(minutes=10)))[0]
    blackouts = {"appl-1": [BlackoutWindow.parse("wed 19:00-21:00")]}
    policy = CutoverPolicy(max_delta_age=timedelta(hours=2), blackouts=blackouts)
    assert "blackout" in refusals(ready_to_cut(appliance="appl-1"), policy)[0]


def test_cutover_refused_when_the_plan_says_not_to_migrate() -> None:
    assert "OK_TO_MIGRATE=N" in refusals(ready_to_cut(allow_cutover=False))[0]


def test_an_application_group_cuts_over_together_or_not_at_all() -> None:
    web = ready_to_cut("web-rhel-02", application_group="shop")
    sql = ready_to_cut("win-sql-01", application_group="shop", test_migrated=False)
    decisions = cutover_decisions([web, sql], NOW, POLICY)
    assert "win-sql-01 is refused" in decisions["web-rhel-02"][0]
    assert decisions["win-sql-01"][0].startswith("never test-migrated")
    healthy = cutover_decisions([web, ready_to_cut("win-sql-01", application_group="shop")], NOW, POLICY)
    assert healthy == {"web-rhel-02": [], "win-sql-01": []}


def test_asking_for_part_of_an_application_group_is_refused() -> None:
    web = ready_to_cut("web-rhel-02", application_group="shop")
    decisions = cutover_decisions([web], NOW, POLICY, groups={"shop": ["web-rhel-02", "win-sql-01"]})
    assert decisions["web-rhel-02"] == ["application group shop cuts over together: also ask for win-sql-01"]
