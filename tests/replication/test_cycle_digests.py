"""Digests on the product path, against the lab: each cycle's manifest is made from the bytes the mover read (the
source read once), each page write carries a checksum the storage checks, and what a cycle wrote is read back
and checked before the cycle counts; `vmshift verify` reads the data, not the disk."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from images import random_bytes
from test_cycle import assert_replicas_equal_source, replica, source_disks
from transit import PageWritesChanged

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicaMismatch, ReplicationSettings, replicate_once
from vmshift.replication.digests import CHUNK, ZERO_ENTRY, chunk_count, digests_of
from vmshift.replication.extents import MIB, DiskExtent
from vmshift.replication.manifest import Manifest
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.verify import verify_vm
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk

pytestmark = pytest.mark.lab


def manifest(blob_service: BlobServiceClient, chosen: ReplicationSettings, vm: str, key: int) -> Manifest:
    container = blob_service.get_container_client(chosen.state_container)
    return Manifest(container, f"{vm}/disk-{key}.manifest", owner=f"{vm}/disk-{key}")


def state_of(blob_service: BlobServiceClient, chosen: ReplicationSettings, vm: str):
    return StateStore.for_account(chosen.cache_account, chosen.state_container, blob_service).load(vm).state


class RecordedReads:
    """Opens the source as the product does and records every range read from it."""

    def __init__(self) -> None:
        self.reads: dict[str, list[DiskExtent]] = {}

    def __call__(self, session: VSphereSession, path: str, capacity: int) -> object:
        reader, reads = open_disk(session, path, capacity), self.reads.setdefault(path, [])

        class Recorded:
            size = capacity

            def read(self, offset: int, length: int) -> bytes:
                reads.append(DiskExtent(offset, length))
                return reader.read(offset, length)

        return Recorded()

    def total(self) -> int:
        return sum(e.length for reads in self.reads.values() for e in reads)

    def overlapping(self) -> list[DiskExtent]:
        twice = []
        for reads in self.reads.values():
            ordered = sorted(reads)
            twice += [b for a, b in itertools.pairwise(ordered) if b.offset < a.end]
        return twice


def test_each_cycle_digests_what_it_reads_once_and_the_chunks_it_did_not_read_carry_over(
    lab: dict, session: VSphereSession, blob_service: BlobServiceClient, replication: ReplicationSettings
) -> None:
    vm = "repl-digest-01"
    write_guest(lab, vm, 100, random_bytes(3 * MIB, 1))
    write_guest(lab, vm, 12 * MIB, random_bytes(CHUNK, 2))
    write_guest(lab, vm, 5 * MIB - 10, random_bytes(20, 3), disk_key=2001)
    reads = RecordedReads()
    initial = replicate_once(vm, session=session, blob_service=blob_service, settings=replication, open_reader=reads)
    assert reads.overlapping() == [] and reads.total() == initial["source_bytes_read"]
    disks = source_disks(session, vm)
    for key, data in disks.items():
        assert manifest(blob_service, replication, vm, key).entries(DiskExtent(0, len(data)), len(data)) == \
            digests_of(data)
    # Zero chunks are entries of zeros, stored as nothing: the manifest holds pages for the data only.
    first = manifest(blob_service, replication, vm, 2000)
    assert sum(e.length for e in first.described(16 * MIB)) <= 4 * MIB + 2 * MIB

    write_guest(lab, vm, 12 * MIB + 4096, random_bytes(4096, 4))  # one chunk; CBT says one 64 KiB block
    reads = RecordedReads()
    delta = replicate_once(vm, session=session, blob_service=blob_service, settings=replication, open_reader=reads)
    assert reads.reads and [e for r in reads.reads.values() for e in r] == [DiskExtent(12 * MIB, CHUNK)]
    assert delta["source_bytes_read"] == CHUNK
    assert CHUNK <= delta["read_back_bytes"] < CHUNK + 4096  # the chunk written, and its manifest page
    after = source_disks(session, vm)
    assert first.entries(DiskExtent(0, 16 * MIB), 16 * MIB) == digests_of(after[2000])
    # Each recovery point keeps the manifest as its cycle left it.
    points = state_of(blob_service, replication, vm).recovery_points
    old = first.at(points[0].manifests["2000"]).entries(DiskExtent(12 * MIB, CHUNK), 16 * MIB)
    assert old == digests_of(disks[2000][12 * MIB : 12 * MIB + CHUNK]) != digests_of(after[2000][12 * MIB :][:CHUNK])
    assert first.entries(DiskExtent(15 * MIB, CHUNK), 16 * MIB) == ZERO_ENTRY
    assert chunk_count(16 * MIB) == 256


def test_a_page_write_changed_on_the_way_is_refused_by_the_storage_and_the_cycle_sends_it_again(
    lab: dict, session: VSphereSession, blob_service: BlobServiceClient, replication: ReplicationSettings,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = "repl-transit-01"
    write_guest(lab, vm, 0, random_bytes(3 * MIB, 11))
    network = PageWritesChanged(monkeypatch, 2, to=".vhd")  # the replicas' writes, not the manifests'

    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    assert network.answers == [(400, "Crc64Mismatch")] * 2
    assert report["kind"] == "initial"
    assert_replicas_equal_source(session, blob_service, replication, vm, tmp_path)


def test_a_replica_chunk_read_back_wrong_fails_the_cycle_naming_disk_and_offset_and_the_next_cycle_rewrites_it(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = "repl-rot-01"
    write_guest(lab, vm, 0, random_bytes(6 * MIB, 21))
    replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    write_guest(lab, vm, 3 * MIB + 100, random_bytes(300, 22))
    write_guest(lab, vm, 5 * MIB, random_bytes(300, 23))
    upload = PageBlobReplica.upload_page

    def stored_wrong(self: PageBlobReplica, offset: int, data: bytes) -> None:
        """The storage keeps other bytes than it acknowledged (a fault no transfer checksum sees)."""
        if offset == 3 * MIB:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        upload(self, offset, data)

    monkeypatch.setattr(PageBlobReplica, "upload_page", stored_wrong)
    with pytest.raises(ReplicaMismatch, match=r"disk 2000: 65536 bytes in 1 range\(s\), the first at byte offset "
                                              rf"{3 * MIB}"):
        replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    state = state_of(blob_service, replication, vm)
    assert state.phase == "failed" and f"byte offset {3 * MIB}" in state.error
    assert [p.cycle for p in state.recovery_points] == [1]  # the wrong replica is no recovery point
    assert state.disks["2000"].rewrite == [(3 * MIB, CHUNK)]

    monkeypatch.setattr(PageBlobReplica, "upload_page", upload)
    reads = RecordedReads()
    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication, open_reader=reads)
    assert [e for r in reads.reads.values() for e in r] == [DiskExtent(3 * MIB, CHUNK)]  # the chunk, again
    assert report["bytes_sent"] == CHUNK
    state = state_of(blob_service, replication, vm)
    assert state.phase == "protected" and state.disks["2000"].rewrite == []
    assert_replicas_equal_source(session, blob_service, replication, vm, tmp_path)


def test_verify_reads_the_allocated_data_not_the_disk_and_tells_a_changed_replica_from_a_changed_source(
    lab: dict, session: VSphereSession, blob_service: BlobServiceClient, replication: ReplicationSettings
) -> None:
    vm, capacity = "repl-sparse-01", 2048 * MIB
    for offset in (0, 700 * MIB, capacity - MIB):
        write_guest(lab, vm, offset, random_bytes(MIB, offset))
    replicate_once(vm, session=session, blob_service=blob_service, settings=replication)

    verified = verify_vm(vm, session=session, blob_service=blob_service, settings=replication)
    assert verified["equal"], verified
    assert verified["disks"][0]["bytes_read"] < 2 * 3 * MIB + 64 * 1024  # both sides' 3 MiB, the entries

    stored = replica(blob_service, replication, vm, 2000)
    rotten = bytearray(stored.read(700 * MIB, 512))
    rotten[9] ^= 0x40
    stored.upload_page(700 * MIB, bytes(rotten))
    result = verify_vm(vm, session=session, blob_service=blob_service, settings=replication)["disks"][0]
    assert not result["equal"]
    assert (result["first_difference"], result["manifest_difference"]) == (700 * MIB + 9, 700 * MIB)
    stored.upload_page(700 * MIB, bytes(rotten[:9]) + bytes([rotten[9] ^ 0x40]) + bytes(rotten[10:]))

    write_guest(lab, vm, 1500 * MIB + 3, b"\x5a")
    result = verify_vm(vm, session=session, blob_service=blob_service, settings=replication)["disks"][0]
    assert result["first_difference"] == 1500 * MIB + 3 and result["manifest_difference"] is None


def test_a_replica_kept_without_a_manifest_is_compared_whole_once_and_gets_one(
    lab: dict, session: VSphereSession, blob_service: BlobServiceClient, replication: ReplicationSettings
) -> None:
    vm = "repl-upgrade-01"
    write_guest(lab, vm, MIB, random_bytes(2 * MIB, 31))
    replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    # As a vmshift from before manifests left it: the replica and its state, no manifest.
    manifest(blob_service, replication, vm, 2000).blob.delete_blob(delete_snapshots="include")

    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    assert (report["kind"], report["bytes_sent"]) == ("resync", 0)
    data = source_disks(session, vm)[2000]
    assert manifest(blob_service, replication, vm, 2000).entries(DiskExtent(0, 8 * MIB), 8 * MIB) == digests_of(data)
    assert replicate_once(vm, session=session, blob_service=blob_service, settings=replication)["kind"] == "delta"
