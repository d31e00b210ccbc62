"""A disk the plan leaves out is never read nor sent: the cycle skips it though vSphere snapshots it, and
verification compares only the disks that are migrated."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.settings import open_clients
from vmshift.replication.verify import verify_vm
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import find_vm, vm_disks

pytestmark = pytest.mark.lab

VM = "repl-select-01"


def test_a_disk_the_plan_leaves_out_is_never_read_nor_sent(lab: dict, session: VSphereSession,
                                                          blob_service: BlobServiceClient,
                                                          replication: ReplicationSettings) -> None:
    kept, left_out = sorted(vm_disks(find_vm(session, VM)), key=lambda disk: disk.key)
    write_guest(lab, VM, 0, b"migrated" * 8192, disk_key=kept.key)
    write_guest(lab, VM, 0, b"not migrated" * 65536, disk_key=left_out.key)
    clients = open_clients(replication, blob_service)
    stored = clients.store.load(VM)
    stored.state.included_disks = [kept.key]
    clients.store.save(stored)
    opened: list[str] = []

    def reader(session: VSphereSession, path: str, capacity: int):
        opened.append(path)
        return open_disk(session, path, capacity)

    report = replicate_once(VM, session=session, blob_service=blob_service, settings=replication, open_reader=reader)

    assert [disk["key"] for disk in report["disks"]] == [kept.key]
    assert 0 < report["bytes_sent"] <= MIB  # what the kept disk holds; the other one's 768 KiB never went
    assert opened and not [path for path in opened if left_out.datastore_path.split("/")[-1] in path]
    with pytest.raises(ResourceNotFoundError):
        clients.replica(VM, str(left_out.key)).blob.get_blob_properties()
    point = clients.store.load(VM).state.recovery_points[-1]
    assert list(point.blob_snapshots) == [str(kept.key)]
    checked = verify_vm(VM, session=session, blob_service=blob_service, settings=replication, open_reader=reader)
    assert checked["equal"] and [disk["key"] for disk in checked["disks"]] == [kept.key]
