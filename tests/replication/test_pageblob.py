"""The replica page blob against Azurite: what it refuses to create."""

import os

import pytest
from azure.storage.blob import ContainerClient
from azure.storage.blob._shared.validation import calculate_crc64_bytes

from vmshift.replication.extents import MIB, UnalignedDisk
from vmshift.replication.pageblob import PageBlobReplica, transactional_crc64

pytestmark = pytest.mark.lab  # Azurite


def test_a_disk_size_not_a_multiple_of_512_creates_no_blob(container: ContainerClient) -> None:
    target = PageBlobReplica(container, "vm-odd/disk-2000.vhd", owner="vm-odd/disk-2000")
    with pytest.raises(UnalignedDisk, match=r"disk vm-odd/disk-2000 is 8388708 bytes, not a positive multiple of 512"):
        target.ensure(8 * MIB + 100)
    assert list(container.list_blob_names()) == []


@pytest.mark.parametrize("size", [512, 4096, 4 * MIB, 3 * MIB + 512])
def test_the_crc64_each_page_write_carries_is_the_one_the_sdk_computes(size: int) -> None:
    data = os.urandom(size)
    assert transactional_crc64(data) == calculate_crc64_bytes(data)
    assert transactional_crc64(bytes(size)) == calculate_crc64_bytes(bytes(size))
