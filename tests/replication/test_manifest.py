"""Manifests on the lab's Azurite: entries written in batches carry the others over, zero chunks cost nothing, and a
range check finds the chunk whose bytes differ from what was recorded."""

from __future__ import annotations

import pytest
from azure.storage.blob import ContainerClient
from images import random_bytes

from vmshift.replication.digests import CHUNK, DIGEST_SIZE, ZERO_ENTRY, digests_of, to_chunks
from vmshift.replication.extents import MIB, DiskExtent
from vmshift.replication.manifest import Manifest
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.readback import check_ranges
from vmshift.replication.verify import prove_copy

pytestmark = pytest.mark.lab  # Azurite

SIZE = 12 * MIB + 3 * 512  # a last chunk shorter than the others


class Source:
    def __init__(self, data: bytes) -> None:
        self.data, self.size = bytearray(data), len(data)
        self.reads: list[DiskExtent] = []

    def read(self, offset: int, length: int) -> bytes:
        self.reads.append(DiskExtent(offset, length))
        return bytes(self.data[offset : offset + length])


def entries_of(manifest: Manifest, size: int) -> bytes:
    return manifest.entries(DiskExtent(0, size), size)


def test_a_cycle_rewrites_only_the_entries_of_what_it_read_and_the_others_carry_over(
    container: ContainerClient,
) -> None:
    data = bytearray(SIZE)
    data[MIB : 5 * MIB] = random_bytes(4 * MIB, 1)
    data[SIZE - 700 : SIZE - 600] = b"\x07" * 100
    source = Source(bytes(data))
    replica = PageBlobReplica(container, "vm-m/disk-2000.vhd", owner="vm-m/disk-2000")
    replica.ensure(SIZE)
    manifest = Manifest(container, "vm-m/disk-2000.manifest", owner="vm-m/disk-2000")
    manifest.start_over(SIZE)
    settings = MoverSettings(concurrency=3, chunk_size=MIB)
    everything = to_chunks([DiskExtent(0, SIZE)], SIZE)
    writer = manifest.writer(SIZE, fresh=True)
    move(source, replica, (e for e in [DiskExtent(o, min(MIB, SIZE - o)) for o in range(0, SIZE, MIB)]), settings,
         skip_zero=True, digests=writer)
    writer.flush()
    assert entries_of(manifest, SIZE) == digests_of(bytes(data))
    # Zero chunks are stored as nothing: the manifest holds pages for the data only.
    assert sum(e.length for e in manifest.described(SIZE)) <= 4 * MIB + 2 * MIB + CHUNK
    assert entries_of(manifest, SIZE)[: MIB // CHUNK * DIGEST_SIZE] == ZERO_ENTRY * (MIB // CHUNK)

    # A delta reading three scattered chunks: a fresh writer in another process would not know the pages.
    changed = [DiskExtent(2 * MIB + 3 * CHUNK, CHUNK), DiskExtent(9 * MIB, CHUNK), DiskExtent(SIZE - 1536, 1536)]
    for extent in changed[:2]:
        data[extent.offset : extent.end] = random_bytes(extent.length, extent.offset)
    data[changed[2].offset : changed[2].end] = bytes(1536)  # zeros over the data of the short last chunk
    source = Source(bytes(data))
    writer = manifest.writer(SIZE, fresh=False)
    before = manifest.bytes_read
    writer.prefetch(to_chunks(changed, SIZE))  # before the copy: the pages they patch, not the last (whole)
    read_ahead = manifest.bytes_read
    assert read_ahead - before == 4 * 512  # pages 1 and 4, and the two between them: one request
    move(source, replica, iter(to_chunks(changed, SIZE)), settings, skip_zero=False, digests=writer)
    writer.flush()
    assert manifest.bytes_read == read_ahead  # no page read while copying
    assert entries_of(manifest, SIZE) == digests_of(bytes(data))
    assert writer.entries(DiskExtent(9 * MIB, CHUNK)) == digests_of(bytes(data[9 * MIB : 9 * MIB + CHUNK]))
    assert sorted(source.reads) == to_chunks(changed, SIZE)  # each chunk read once, nothing else
    assert check_ranges(replica.reader(), manifest, everything, SIZE).mismatched == []


def test_a_range_check_names_the_chunk_whose_bytes_differ_from_the_manifest(container: ContainerClient) -> None:
    size = 8 * MIB
    data = random_bytes(size, 5)
    replica = PageBlobReplica(container, "vm-n/disk-2000.vhd", owner="vm-n/disk-2000")
    replica.ensure(size)
    manifest = Manifest(container, "vm-n/disk-2000.manifest", owner="vm-n/disk-2000")
    manifest.start_over(size)
    writer = manifest.writer(size, fresh=True)
    move(Source(data), replica, iter([DiskExtent(o, MIB) for o in range(0, size, MIB)]), MoverSettings(),
         skip_zero=True, digests=writer)
    writer.flush()
    flipped = bytearray(data[5 * MIB : 5 * MIB + 512])
    flipped[17] ^= 0x20
    replica.upload_page(5 * MIB, bytes(flipped))

    check = check_ranges(replica.reader(), manifest, [DiskExtent(4 * MIB, 2 * MIB), DiskExtent(7 * MIB, CHUNK)],
                         size, concurrency=2)
    assert check.mismatched == [DiskExtent(5 * MIB, CHUNK)]
    assert check.first_mismatch == 5 * MIB
    assert check.bytes_checked == 2 * MIB + CHUNK  # only the ranges asked for
    assert check.manifest_bytes_read < 4096


class StopsAfter:
    """A copy's reader that records what it reads and dies after some reads, as a killed verification does."""

    def __init__(self, reader: object, reads: int) -> None:
        self.reader, self.reads_left, self.read_ranges = reader, reads, []
        self.size, self.written = reader.size, reader.written

    def read(self, offset: int, length: int) -> bytes:
        self.reads_left -= 1
        if self.reads_left < 0:
            raise ConnectionError("killed")
        self.read_ranges.append(DiskExtent(offset, length))
        return self.reader.read(offset, length)


def test_a_whole_copy_is_proven_where_it_holds_pages_and_a_stopped_proof_resumes_without_reading_again(
    container: ContainerClient,
) -> None:
    size = 64 * MIB
    data = bytearray(size)
    for offset in range(0, size, 8 * MIB):  # 4 MiB of data every 8 MiB: half the disk is never allocated
        data[offset : offset + 4 * MIB] = random_bytes(4 * MIB, offset)
    replica = PageBlobReplica(container, "vm-q/disk-2000.vhd", owner="vm-q/disk-2000")
    replica.ensure(size)
    manifest = Manifest(container, "vm-q/disk-2000.manifest", owner="vm-q/disk-2000")
    manifest.start_over(size)
    writer = manifest.writer(size, fresh=True)
    move(Source(bytes(data)), replica, iter([DiskExtent(o, MIB) for o in range(0, size, MIB)]), MoverSettings(),
         skip_zero=True, digests=writer)
    writer.flush()
    flipped = bytearray(data[40 * MIB : 40 * MIB + 512])
    flipped[3] ^= 1
    replica.upload_page(40 * MIB, bytes(flipped))  # a byte changed
    replica.clear_page(56 * MIB + CHUNK, CHUNK)  # a chunk of data lost
    frozen = replica.blob.create_snapshot()["snapshot"]

    saved: list = []
    first = StopsAfter(replica.reader(frozen, only_written=True), reads=5)
    with pytest.raises(ConnectionError):
        prove_copy(first, first.written, manifest, size, save=lambda checkpoint, bad: saved.append((checkpoint, bad)),
                   concurrency=2)
    proven = saved[-1][0]
    assert 0 < proven.resume_offset < size

    rest = StopsAfter(replica.reader(frozen, only_written=True), reads=1000)
    check = prove_copy(rest, rest.written, manifest, size, proven=proven, concurrency=2)
    proven_areas = [DiskExtent(0, proven.resume_offset), *(DiskExtent(o, n) for o, n in proven.done_beyond)]
    assert not [r for r in rest.read_ranges for p in proven_areas if r.offset < p.end and p.offset < r.end]
    read = sum(r.length for r in first.read_ranges + rest.read_ranges)
    assert read <= size // 2 + 2 * 4 * MIB  # the copy's pages, the pieces in flight when it stopped
    # What the stopped run had saved and what the rerun found: the changed byte's chunk and the lost chunk.
    found = sorted({*saved[-1][1], *check.mismatched})
    assert found == [DiskExtent(40 * MIB, CHUNK), DiskExtent(56 * MIB + CHUNK, CHUNK)]


def test_a_batch_patching_part_of_a_page_keeps_the_entries_it_does_not_carry(container: ContainerClient) -> None:
    size = 4 * MIB  # 64 chunks: two pages of entries
    manifest = Manifest(container, "vm-r/disk-2000.manifest", owner="vm-r/disk-2000")
    manifest.start_over(size)
    first = manifest.writer(size, fresh=True)
    old = bytes(random_bytes(size, 9))
    first.record(DiskExtent(0, size), digests_of(old))
    first.flush()

    later = manifest.writer(size, fresh=False)  # another run: it holds no page
    new = random_bytes(3 * CHUNK, 10)
    later.record(DiskExtent(30 * CHUNK, 3 * CHUNK), digests_of(new))  # the last two of page 0, the first of page 1
    later.record(DiskExtent(31 * CHUNK, CHUNK), digests_of(new[:CHUNK]))  # recorded again: the last one counts
    later.flush()
    expected = old[: 30 * CHUNK] + new[:CHUNK] + new[:CHUNK] + new[2 * CHUNK :] + old[33 * CHUNK :]
    assert entries_of(manifest, size) == digests_of(expected)
