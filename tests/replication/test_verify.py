from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from images import random_bytes, write_image

from vmshift.replication.extents import MIB, DiskExtent, plan_writes
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.verify import compare_disks

pytestmark = pytest.mark.lab  # Azurite


def test_verification_names_the_first_differing_offset(container: ContainerClient, tmp_path: Path) -> None:
    size = 12 * MIB
    image = write_image(tmp_path / "disk.raw", size, {MIB: random_bytes(9 * MIB, 31)})
    replica = PageBlobReplica(container, "vm-v/disk-2000.vhd", owner="vm-v/disk-2000")
    replica.ensure(size)
    with LocalDiskReader(image) as reader:
        move(reader, replica, plan_writes([DiskExtent(0, size)], size), MoverSettings(), skip_zero=True)
        assert compare_disks(reader, replica.reader(), block_size=MIB).equal

    with open(image, "r+b") as f:
        f.seek(7 * MIB + 3)
        f.write(b"\xff")
        f.seek(9 * MIB)
        f.write(b"\xff")
    with LocalDiskReader(image) as reader:
        comparison = compare_disks(reader, replica.reader(), block_size=MIB, concurrency=3)
    assert not comparison.equal
    assert comparison.first_difference == 7 * MIB + 3


def test_verification_refuses_a_replica_whose_vhd_footer_azure_would_refuse(container: ContainerClient) -> None:
    replica = PageBlobReplica(container, "vm-v/disk-2001.vhd", owner="vm-v/disk-2001")
    replica.ensure(3 * MIB)
    assert replica.reader().footer_problem() is None
    replica.clear_page(3 * MIB, 512)
    assert "not a fixed VHD footer" in replica.reader().footer_problem()
