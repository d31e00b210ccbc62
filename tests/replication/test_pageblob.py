"""The replica page blob against Azurite: what it refuses to create."""

import pytest
from azure.storage.blob import ContainerClient

from vmshift.replication.extents import MIB, UnalignedDisk
from vmshift.replication.pageblob import PageBlobReplica

pytestmark = pytest.mark.lab  # Azurite


def test_a_disk_size_not_a_multiple_of_512_creates_no_blob(container: ContainerClient) -> None:
    target = PageBlobReplica(container, "vm-odd/disk-2000.vhd", owner="vm-odd/disk-2000")
    with pytest.raises(UnalignedDisk, match=r"disk vm-odd/disk-2000 is 8388708 bytes, not a positive multiple of 512"):
        target.ensure(8 * MIB + 100)
    assert list(container.list_blob_names()) == []
