"""On the lab: a staged disk's page writes (the cutover writes the final delta into them inside the outage) carry
their CRC-64 to the disk's upload URL, which refuses bytes changed on the way; the write is sent again, and the disk
ends as it was written."""

from __future__ import annotations

import logging
import os

import pytest
from transit import PageWritesChanged

from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import DiskImport, ManagedDiskReader, StagedDisk, stage_disk
from vmshift.azure.tags import PURPOSE_MIGRATION, vmshift_tags
from vmshift.replication.extents import DiskExtent
from vmshift.replication.pageblob import TransitCorruption
from vmshift.replication.vhd import build_footer

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("tidy_target_group")]

MIB = 1 << 20
CAPACITY = 24 * MIB  # Azure takes an upload of 20 MiB and more
GROUP = "rg-target"
UPLOAD_URLS = "/_lab/disks/"  # where the lab serves a disk's upload SAS


def staged(azure: AzureClients, vm: str) -> StagedDisk:
    return stage_disk(azure, DiskImport(f"{vm}-osdisk", "", "StandardSSD_LRS"), CAPACITY, resource_group=GROUP,
                      location="westeurope", tags=vmshift_tags(vm, "azure-test-staged", PURPOSE_MIGRATION))


def test_a_staged_disk_write_changed_on_the_way_is_refused_by_the_disk_and_sent_again(
    azure: AzureClients, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vm, data = "staged-transit-01", os.urandom(4 * MIB)
    disk = staged(azure, vm)
    network = PageWritesChanged(monkeypatch, 2, to=UPLOAD_URLS)

    with caplog.at_level(logging.WARNING, logger="vmshift.replication.pageblob"):
        disk.write(8 * MIB, data)
    disk.write(CAPACITY, build_footer(CAPACITY))
    disk.seal()

    assert network.answers == [(400, "Crc64Mismatch")] * 2
    assert [record.getMessage() for record in caplog.records] == [
        f"managed disk {vm}-osdisk: the page write at byte {8 * MIB} reached the storage changed (Crc64Mismatch, "
        f"attempt {attempt} of 3); sending it again" for attempt in (1, 2)]
    with ManagedDiskReader(azure, GROUP, f"{vm}-osdisk") as written:
        assert written.page_ranges() == [DiskExtent(8 * MIB, 4 * MIB)]
        assert written.read(8 * MIB, 4 * MIB) == data


def test_a_staged_disk_write_changed_on_every_attempt_fails_naming_the_disk_and_nothing_wrong_is_stored(
    azure: AzureClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = "staged-transit-02"
    disk = staged(azure, vm)
    network = PageWritesChanged(monkeypatch, 3, to=UPLOAD_URLS)

    with pytest.raises(TransitCorruption) as failed:
        disk.write(2 * MIB, os.urandom(MIB))

    assert network.answers == [(400, "Crc64Mismatch")] * 3
    message = str(failed.value)
    assert message.startswith(f"managed disk {vm}-osdisk: the page write of {MIB} bytes at byte {2 * MIB}")
    assert "3 times" in message and "nothing wrong was stored" in message
    assert "sig=" not in message  # the upload URL's SAS is a secret
    disk.write(CAPACITY, build_footer(CAPACITY))
    disk.seal()
    with ManagedDiskReader(azure, GROUP, f"{vm}-osdisk") as written:
        assert written.page_ranges() == []
