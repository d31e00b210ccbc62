"""Cutover through the `cutover` flow on the lab's guests, once test-migrated: the final recovery point's OS disk is
prepared during the outage with the same rules and changes as at test migration, the VM is built from that
prepared copy, which the verification after the cutover proves against the copy's manifest (the source's digests,
those of the changed chunks replaced); read back, the OS disk is the source plus exactly the recorded changes; the
report lists each change and the preparation's share of the downtime; the replica stays equal to the source.
The four guests are cut over in one wave (one flow run), then rolled back: the other tests of the session go on
with their sources running. A guest vmshift cannot prepare stops its cutover before its source is touched."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.mgmt.core.tools import parse_resource_id
from conftest import PREPARATION_TESTS, PreparedGuest, guest_wave
from prefect.artifacts import Artifact

from flows.cutover import cutover
from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.disks import ManagedDiskReader
from vmshift.azure.tags import SOURCE_VM_TAG
from vmshift.migration.appliance import Appliance
from vmshift.migration.cutover import roll_back_vm
from vmshift.migration.report import artifact_key
from vmshift.migration.target import clean_up_test_vm
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.preparation.prepare import RECORD_SUFFIX, Preparation, PreparedSourceReader
from vmshift.replication.pageblob import BlobDiskReader, PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.verify import compare_disks
from vmshift.vsphere import inventory
from vmshift.vsphere.connection import VSphereSession

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness", "cache_reached_privately")]

GUESTS = {"prep-rhel-01": "ds-ssd-01", "prep-ubuntu-01": "ds-ssd-01", "prep-win-01": "ds-ssd-01",
          "prep-debian-01": "ds-nfs-02"}  # VM → its datastore (tests/lab-spec.json)
RESOURCE_GROUP = "rg-target"


@dataclasses.dataclass(frozen=True)
class CutOver:
    rows: dict[str, dict]  # the flow's row per VM
    report: str
    os_disk_sources: dict[str, str]  # the target VM's OS disk: the blob it was imported from
    os_disk_as_expected: dict[str, bool]  # read back: the source's disk plus exactly the recorded changes


def cutover_wave(vms: list[str]) -> Wave:
    """The guests in one wave, planned as guest_wave plans them, the cutover window open now."""
    now = datetime.now(UTC)
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    rows = tuple(dataclasses.replace(guest_wave(vm).vms[0], cutover_window=window, wave="osprep-cutover")
                 for vm in vms)
    return dataclasses.replace(guest_wave(vms[0]), name="osprep-cutover", vms=rows, cutover_window=window)


@pytest.fixture(scope="module")
def cut_over(
    lab: dict, prepared_guest: Callable[[str], PreparedGuest], owner: AzureClients
) -> Iterator[CutOver]:
    for vm in GUESTS:
        prepared_guest(vm)  # test-migrated first: the cutover's gate asks for it
        # ...and cleaned up, as a team does before the cutover: the lifecycle refuses a cutover while a test VM
        # runs. This module runs last of the folder (its name), so no later test needs the test VMs.
        clean_up_test_vm(guest_wave(vm).vms[0], PREPARATION_TESTS)
    wave = cutover_wave(list(GUESTS))
    result = asyncio.run(cutover(wave, shutdown_timeout_s=5, appliance=Appliance()))
    artifact = Artifact.get(artifact_key("cutover", wave.name))
    assert artifact is not None
    rows = {row["vm"]: row for row in result["vms"]}
    sources, as_expected = {}, {}
    for vm, row in rows.items():
        if row["outcome"] != "migrated":
            continue
        target = owner.compute.virtual_machines.get(RESOURCE_GROUP, vm)
        disk = parse_resource_id(target.properties.storage_profile.os_disk.managed_disk.id)["name"]
        sources[vm] = owner.compute.disks.get(RESOURCE_GROUP, disk).properties.creation_data.source_uri
        # The source is off: its disk is the final delta's. Azure reads no disk a running VM holds.
        replica = prepared_guest(vm).replica
        name = row["preparation"]["prepared_blob"].split(f"/{replica.container.container_name}/", 1)[1]
        copy, record = (replica.container.get_blob_client(blob) for blob in (name, name + RECORD_SUFFIX))
        changed = Preparation.model_validate_json(record.download_blob().readall()).changed_extents
        flat = LocalDiskReader(Path(lab["vcenter"]["datastore_dir"][GUESTS[vm]]) / vm / f"{vm}-flat.vmdk")
        expected = PreparedSourceReader(flat, BlobDiskReader(copy), changed)
        owner.compute.virtual_machines.begin_deallocate(RESOURCE_GROUP, vm).result()
        with ManagedDiskReader(owner, RESOURCE_GROUP, disk) as managed:
            as_expected[vm] = compare_disks(expected, managed).equal
    yield CutOver(rows, artifact.data, sources, as_expected)
    for vm in wave.vms:
        roll_back_vm(vm, delete_disks=True, actor=PREPARATION_TESTS)  # the source runs again, replication resumes


@pytest.mark.parametrize("vm", list(GUESTS))
def test_each_guest_is_cut_over_from_its_final_recovery_points_prepared_os_disk_verified_as_source_plus_changes(
    vm: str, cut_over: CutOver, prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    row, tested = cut_over.rows[vm], prepared_guest(vm).preparation
    assert row["outcome"] == "migrated", row
    # proven after the VM started, chunk by chunk, against the prepared copy's manifest
    assert row["verification"] == "passed", row
    assert cut_over.os_disk_as_expected[vm]
    preparation = row["preparation"]
    assert cut_over.os_disk_sources[vm] == preparation["prepared_blob"] != tested.prepared_blob
    # the same rules, carried out on the same files as at test migration
    assert preparation["rules"] == tested.rules
    assert preparation["changes"] == [[c.rule, c.path, c.setting] for c in tested.changes]
    assert f"### {vm}" in cut_over.report
    for rule, path, setting in preparation["changes"]:
        assert f"| {rule} | `{path}`{f' {setting}' if setting else ''} |" in cut_over.report
    # the downtime's breakdown: the preparation ran inside the outage, after the final delta, before the import
    steps = [step["name"] for step in row["steps"]]
    assert steps.index("range check") < steps.index("OS preparation") < steps.index("disk import"), steps
    seconds = next(step["seconds"] for step in row["steps"] if step["name"] == "OS preparation")
    assert 0 < seconds < row["downtime_s"]
    assert f"| OS preparation | {seconds:.1f} |" in cut_over.report


@pytest.mark.parametrize("vm", list(GUESTS))
def test_the_replica_stays_equal_to_the_source_after_the_cutover_prepared_its_os_disk(
    vm: str, lab: dict, cut_over: CutOver, prepared_guest: Callable[[str], PreparedGuest]
) -> None:
    assert cut_over.rows[vm]["outcome"] == "migrated"
    flat = Path(lab["vcenter"]["datastore_dir"][GUESTS[vm]]) / vm / f"{vm}-flat.vmdk"
    assert compare_disks(LocalDiskReader(flat), prepared_guest(vm).replica.reader()).equal


def test_a_guest_vmshift_cannot_prepare_stops_its_cutover_before_the_source_is_touched(
    replicated_guest: Callable[[str], tuple[PageBlobReplica, str]], guest_session: VSphereSession
) -> None:
    vm = "cbt-probe-01"  # an 8 MiB disk of zeros: no partition table, no OS
    replica, _ = replicated_guest(vm)
    wave = cutover_wave([vm])

    result = asyncio.run(cutover(wave, skip_test_migration=True, shutdown_timeout_s=5, appliance=Appliance()))

    row = result["vms"][0]
    assert row["outcome"] == "failed"
    assert f"UnrecognisedOs: VM {vm}, disk {vm}/disk-" in row["error"] and "found 0 operating systems" in row["error"]
    assert "powered on again" not in row["error"]  # it was never shut down
    assert inventory.find_vm(guest_session, vm).runtime.powerState == "poweredOn"
    compute = connect().compute
    created = [*compute.virtual_machines.list(RESOURCE_GROUP), *compute.disks.list_by_resource_group(RESOURCE_GROUP)]
    assert [r.id for r in created if (r.tags or {}).get(SOURCE_VM_TAG) == vm] == []
    assert [b.name for b in replica.container.list_blobs(name_starts_with=f"{vm}/")] == [replica.name]  # no copy
