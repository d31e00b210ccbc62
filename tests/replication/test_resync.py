from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from images import download, footer_of, qemu_identical, random_bytes, write_image

from vmshift.replication.extents import MIB, DiskExtent, plan_writes
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.resync import resync_disk
from vmshift.replication.vhd import parse_footer

pytestmark = pytest.mark.lab  # Azurite

SETTINGS = MoverSettings(concurrency=2, chunk_size=MIB)


def replicated(container: ContainerClient, image: Path, size: int) -> PageBlobReplica:
    replica = PageBlobReplica(container, "vm-s/disk-2000.vhd", owner="vm-s/disk-2000")
    replica.ensure(size)
    with LocalDiskReader(image) as reader:
        move(reader, replica, plan_writes([DiskExtent(0, size)], size, MIB), SETTINGS, skip_zero=True)
    return replica


def test_resync_after_a_cbt_reset_sends_only_the_blocks_that_differ(container: ContainerClient, tmp_path: Path) -> None:
    size = 16 * MIB
    image = write_image(tmp_path / "disk.raw", size, {0: random_bytes(size, 21)})
    replica = replicated(container, image, size)
    with open(image, "r+b") as f:  # three changed spots, one straddling a block border
        for offset in (100, 5 * MIB - 10, 12 * MIB + 4096):
            f.seek(offset)
            f.write(random_bytes(20, offset))
    with LocalDiskReader(image) as reader:
        result = resync_disk(reader, replica, SETTINGS)
    assert result.bytes_sent == 4 * MIB  # blocks 0, 4, 5 and 12
    assert result.bytes_unchanged == size - 4 * MIB
    assert download(replica, tmp_path / "disk.vhd").read_bytes()[:size] == image.read_bytes()


def test_a_grown_disk_is_resized_and_its_new_part_replicated(container: ContainerClient, tmp_path: Path) -> None:
    image = write_image(tmp_path / "disk.raw", 8 * MIB, {0: random_bytes(8 * MIB, 22)})
    replica = replicated(container, image, 8 * MIB)
    grown = image.open("r+b")
    grown.truncate(12 * MIB)
    grown.seek(10 * MIB)
    grown.write(random_bytes(MIB, 23))
    grown.close()
    with LocalDiskReader(image) as reader:
        result = resync_disk(reader, replica, SETTINGS)
    assert result.bytes_sent == MIB
    vhd = download(replica, tmp_path / "disk.vhd")
    assert parse_footer(footer_of(vhd)).current_size == 12 * MIB
    assert qemu_identical(image, vhd)
