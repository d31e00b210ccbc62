"""The replica a cycle writes into, against the lab: a replica that was deleted or replaced since the last cycle
is copied in full, never patched with a delta; each recovery point carries the time vSphere froze its disks."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from images import random_bytes
from test_cycle import assert_replicas_equal_source, replica

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.reader import DiskReader
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm, snapshot_trees

pytestmark = pytest.mark.lab

VM = "repl-reset-01"  # one 8 MiB disk, key 2000; this module's own containers hold its replica and state
KEY = 2000


def replicated_with_churn(lab: dict, session: VSphereSession, blob_service: BlobServiceClient,
                          chosen: ReplicationSettings) -> None:
    """A protected VM whose guest wrote a little since: the next cycle's delta is one small area."""
    write_guest(lab, VM, 0, random_bytes(8 * MIB, 71))
    replicate_once(VM, session=session, blob_service=blob_service, settings=chosen)
    write_guest(lab, VM, 3 * MIB + 100, random_bytes(5000, 72))


def test_a_deleted_replica_is_copied_in_full_not_patched_with_a_delta(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    replicated_with_churn(lab, session, blob_service, replication)
    replica(blob_service, replication, VM, KEY).blob.delete_blob(delete_snapshots="include")

    with caplog.at_level(logging.WARNING, logger="vmshift.replication.cycle"):
        report = replicate_once(VM, session=session, blob_service=blob_service, settings=replication)
    assert report["kind"] == "initial"
    assert report["disks"][0]["kind"] == "initial"
    assert report["bytes_sent"] == 8 * MIB
    assert "deleted or replaced" in caplog.text and f"{VM} disk {KEY}" in caplog.text
    assert_replicas_equal_source(session, blob_service, replication, VM, tmp_path)
    state = StateStore(blob_service.get_container_client(replication.state_container)).load(VM).state
    assert [point.cycle for point in state.recovery_points] == [report["cycle"]]  # the others went with the blob


def test_a_replica_replaced_by_another_blob_is_emptied_and_copied_in_full(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
) -> None:
    replicated_with_churn(lab, session, blob_service, replication)
    target = replica(blob_service, replication, VM, KEY)
    target.blob.delete_blob(delete_snapshots="include")
    target.ensure(8 * MIB)  # someone's other copy, marked as ours, with data the source never had at 6 MiB
    target.upload_page(6 * MIB, random_bytes(MIB, 73))
    write_guest(lab, VM, 6 * MIB, bytes(MIB))  # zeros are allocated: the full copy must clear them, not skip

    report = replicate_once(VM, session=session, blob_service=blob_service, settings=replication)
    assert report["kind"] == "initial"
    assert_replicas_equal_source(session, blob_service, replication, VM, tmp_path)


class SnapshotTimes:
    """Opens the source as the product does, noting the createTime of the vmshift snapshot it reads from."""

    def __init__(self) -> None:
        self.seen: list[dt.datetime] = []

    def __call__(self, session: VSphereSession, path: str, capacity: int) -> DiskReader:
        trees = snapshot_trees(find_vm(session, VM).snapshot.rootSnapshotList)
        [ours] = [tree for tree in trees if tree.name.startswith(OWN_SNAPSHOT_PREFIX)]
        self.seen.append(ours.createTime)
        return open_disk(session, path, capacity)


def test_each_recovery_point_carries_the_time_vsphere_froze_its_disks(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
) -> None:
    times = SnapshotTimes()
    for cycle in range(2):
        write_guest(lab, VM, cycle * MIB, random_bytes(MIB, 80 + cycle))
        replicate_once(VM, session=session, blob_service=blob_service, settings=replication, open_reader=times)
    state = StateStore(blob_service.get_container_client(replication.state_container)).load(VM).state
    assert [point.source_snapshot_time for point in state.recovery_points[-2:]] == times.seen
    assert None not in times.seen
