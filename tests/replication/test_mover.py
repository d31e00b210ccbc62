import threading
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from images import download, footer_of, qemu_identical, random_bytes, write_image

from vmshift.replication.extents import MIB, DiskExtent, plan_writes
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import OWNER_KEY, BlobNotOurs, InvalidPageWrite, PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.vhd import blob_size, parse_footer

pytestmark = pytest.mark.lab  # Azurite

SIZE = 24 * MIB


def replica(container: ContainerClient, name: str = "vm-a/disk-2000.vhd") -> PageBlobReplica:
    return PageBlobReplica(container, name, owner="vm-a/disk-2000")


def test_initial_copy_is_byte_equal_and_opens_as_a_vhd(container: ContainerClient, tmp_path: Path) -> None:
    image = write_image(
        tmp_path / "disk.raw",
        SIZE,
        {
            0: random_bytes(5000, 1),  # unaligned end
            4 * MIB - 700: random_bytes(1400, 2),  # straddles a chunk border
            9 * MIB: random_bytes(6 * MIB, 3),
            SIZE - 512: random_bytes(512, 4),  # last sector
        },
    )
    target = replica(container)
    assert target.ensure(SIZE)
    with LocalDiskReader(image) as reader:
        areas = reader.allocated_areas()
        result = move(reader, target, plan_writes(areas, SIZE), MoverSettings(concurrency=3), skip_zero=True)
    vhd = download(target, tmp_path / "disk.vhd")
    assert vhd.read_bytes()[:SIZE] == image.read_bytes()
    assert qemu_identical(image, vhd)
    assert parse_footer(footer_of(vhd)).current_size == SIZE
    assert result.bytes_sent <= sum(a.length for a in areas) + 2 * 512 * len(areas)


def test_a_blob_left_without_its_footer_by_a_killed_run_is_finished_on_the_next(
    container: ContainerClient, tmp_path: Path
) -> None:
    target = replica(container, "vm-a/disk-killed.vhd")
    target.blob.create_page_blob(blob_size(SIZE), metadata={OWNER_KEY: target.owner})  # killed before the footer
    assert target.ensure(SIZE)
    assert not target.ensure(SIZE)
    vhd = download(target, tmp_path / "disk.vhd")
    assert parse_footer(footer_of(vhd)).current_size == SIZE


def test_zero_chunks_are_skipped_on_the_initial_copy_and_cleared_on_a_delta(
    container: ContainerClient, tmp_path: Path
) -> None:
    image = write_image(tmp_path / "disk.raw", 8 * MIB, {0: random_bytes(8 * MIB, 5)})
    with open(image, "r+b") as f:  # zeros written by the guest are allocated, not holes
        f.seek(4 * MIB)
        f.write(bytes(4 * MIB))
    target = replica(container)
    target.ensure(8 * MIB)
    everything = plan_writes([DiskExtent(0, 8 * MIB)], 8 * MIB)
    with LocalDiskReader(image) as reader:
        first = move(reader, target, everything, MoverSettings(), skip_zero=True)
    assert (first.bytes_sent, first.bytes_skipped, first.bytes_cleared) == (4 * MIB, 4 * MIB, 0)

    with open(image, "r+b") as f:  # the guest zeroes the first half
        f.write(bytes(4 * MIB))
    with LocalDiskReader(image) as reader:
        delta = move(reader, target, plan_writes([DiskExtent(0, 4 * MIB)], 8 * MIB), MoverSettings(), skip_zero=False)
    assert (delta.bytes_sent, delta.bytes_cleared) == (0, 4 * MIB)
    assert download(target, tmp_path / "disk.vhd").read_bytes()[: 8 * MIB] == image.read_bytes()


def test_buffers_in_flight_never_exceed_the_concurrency(container: ContainerClient, tmp_path: Path) -> None:
    image = write_image(tmp_path / "disk.raw", SIZE, {0: random_bytes(SIZE, 6)})
    target = replica(container)
    target.ensure(SIZE)
    lock, live, peak = threading.Lock(), [0], [0]

    class CountingReader(LocalDiskReader):
        def read(self, offset: int, length: int) -> bytes:
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            return super().read(offset, length)

    def written(_: object) -> None:
        with lock:
            live[0] -= 1

    writes = plan_writes([DiskExtent(0, SIZE)], SIZE, chunk_size=MIB)
    reader = CountingReader(image)
    move(reader, target, writes, MoverSettings(concurrency=3, chunk_size=MIB), skip_zero=True, on_written=written)
    assert peak[0] <= 3


def test_page_writes_azure_would_refuse_are_refused_before_sending(container: ContainerClient) -> None:
    target = replica(container)
    target.ensure(16 * MIB)
    with pytest.raises(InvalidPageWrite, match="limit"):
        target.upload_page(0, bytes(4 * MIB + 512))
    with pytest.raises(InvalidPageWrite, match="aligned"):
        target.upload_page(100, bytes(512))


def test_a_blob_that_is_not_ours_is_left_untouched(container: ContainerClient) -> None:
    container.upload_blob("vm-a/disk-2000.vhd", b"someone else's data")
    with pytest.raises(BlobNotOurs, match="not the replica of vm-a/disk-2000"):
        replica(container).ensure(8 * MIB)
    assert container.download_blob("vm-a/disk-2000.vhd").readall() == b"someone else's data"


def test_a_grown_disk_grows_its_blob_and_keeps_a_valid_footer(container: ContainerClient, tmp_path: Path) -> None:
    target = replica(container)
    target.ensure(8 * MIB)
    unique = parse_footer(target.read(8 * MIB, 512)).unique_id
    target.resize(12 * MIB)
    vhd = download(target, tmp_path / "disk.vhd")
    footer = parse_footer(footer_of(vhd))
    assert (footer.current_size, footer.unique_id) == (12 * MIB, unique)
    assert vhd.read_bytes()[: 12 * MIB] == bytes(12 * MIB)
