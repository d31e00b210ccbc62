import os
from pathlib import Path

import pytest
from azure.core.pipeline import PipelineResponse
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


def test_resync_downloads_only_the_blocks_the_replica_holds(container: ContainerClient, tmp_path: Path) -> None:
    size = 16 * MIB
    image = write_image(tmp_path / "disk.raw", size, {0: random_bytes(2 * MIB, 24)})  # the rest is never written
    with LocalDiskReader(image) as reader:
        replica = PageBlobReplica(container, "vm-s/disk-2000.vhd", owner="vm-s/disk-2000")
        replica.ensure(size)
        move(reader, replica, plan_writes(reader.allocated_areas(), size, MIB), SETTINGS, skip_zero=True)
    with open(image, "r+b") as f:  # one change over data, one where the replica holds no page
        for offset in (100, 12 * MIB + 4096):
            f.seek(offset)
            f.write(random_bytes(20, offset))
    downloaded = []

    def count(pipeline: PipelineResponse) -> None:
        if pipeline.http_request.method == "GET":
            downloaded.append(len(pipeline.http_response.body() or b""))

    counted = ContainerClient.from_container_url(
        container.url, credential=container.credential, raw_response_hook=count,
        connection_verify=os.environ.get("VMSHIFT_CA_FILE") or True,
    )
    with LocalDiskReader(image) as reader:
        result = resync_disk(reader, PageBlobReplica(counted, replica.name, replica.owner), SETTINGS)
    assert result.bytes_sent == 2 * MIB  # blocks 0 and 12
    assert 2 * MIB <= sum(downloaded) < 2 * MIB + 64 * 1024  # blocks 0 and 1, and the list of page ranges
    assert download(replica, tmp_path / "disk.vhd").read_bytes()[:size] == image.read_bytes()
