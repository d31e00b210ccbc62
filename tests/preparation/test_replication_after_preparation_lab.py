"""Replication goes on after a preparation as before it: the guest's own writes on a lab guest's disk are tracked
by CBT, and the next delta cycle sends only those (the preparation's changes live in the prepared copy, never in
the replica), for each lab guest, test-migrated first. Runs after test_preparation_lab.py, which holds the replica to
the recovery point it prepared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from conftest import PreparedGuest

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.reader import LocalDiskReader
from vmshift.replication.verify import compare_disks
from vmshift.state.lifecycle import Step
from vmshift.vsphere.connection import VSphereSession

pytestmark = pytest.mark.lab

GUESTS = {"prep-rhel-01": "ds-ssd-01", "prep-ubuntu-01": "ds-ssd-01", "prep-win-01": "ds-ssd-01",
          "prep-debian-01": "ds-nfs-02"}  # VM → its datastore (tests/lab-spec.json)
CBT_BLOCK = 64 * 1024  # the lab vCenter tracks 64 KiB blocks, as ESXi does at this disk size


@pytest.mark.parametrize("vm", list(GUESTS))
def test_a_delta_cycle_after_the_test_migration_sends_only_the_guests_own_writes(
    vm: str, lab: dict, prepared_guest: Callable[[str], PreparedGuest], guest_session: VSphereSession,
    guest_blob_service: BlobServiceClient, guest_replication: ReplicationSettings,
) -> None:
    prepared = prepared_guest(vm)
    offset = prepared.source.stat().st_size - MIB + 123
    with open(prepared.source, "rb") as source:  # a block no lab guest's filesystem uses: the guest stays whole
        source.seek(offset - offset % CBT_BLOCK)
        assert source.read(CBT_BLOCK) == bytes(CBT_BLOCK)
    write_guest(lab, vm, offset, b"written by the guest after the preparation")

    # A delta cycle while the test VM runs, as the wave's delta-sync takes it.
    report = replicate_once(vm, session=guest_session, blob_service=guest_blob_service, settings=guest_replication,
                            step=Step.DELTA_CYCLE)

    assert report["kind"] == "delta"
    assert report["bytes_sent"] == CBT_BLOCK
    flat = Path(lab["vcenter"]["datastore_dir"][GUESTS[vm]]) / vm / f"{vm}-flat.vmdk"
    assert compare_disks(LocalDiskReader(flat), prepared.replica.reader()).equal
