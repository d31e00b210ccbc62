"""A replication cycle asks the VM's lifecycle before it touches anything, and records where it leaves the VM."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from images import random_bytes
from test_cycle import assert_replicas_equal_source, vmshift_snapshots

from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB
from vmshift.replication.verify import verify_vm
from vmshift.state.lifecycle import Actor, LifecycleRefused, Phase, Step, advance
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession

pytestmark = pytest.mark.lab

VM = "repl-life-01"


def test_an_explicit_resync_repairs_a_replica_changed_behind_vmshifts_back_and_a_completed_vm_replicates_no_more(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
) -> None:
    store = StateStore.for_account(replication.cache_account, replication.state_container, blob_service)
    clients = {"session": session, "blob_service": blob_service, "settings": replication}
    write_guest(lab, VM, 0, random_bytes(2 * MIB, 61))
    replicate_once(VM, **clients)
    blob = blob_service.get_blob_client(replication.replica_container, f"{VM}/disk-2000.vhd")
    blob.upload_page(b"\xa5" * 512, offset=MIB + 4096, length=512)  # someone wrote into the replica
    delta = replicate_once(VM, **clients)  # CBT: nothing changed, so nothing is sent
    assert (delta["kind"], delta["bytes_sent"]) == ("delta", 0)
    assert verify_vm(VM, **clients)["disks"][0]["first_difference"] == MIB + 4096

    resync = replicate_once(VM, step=Step.RESYNC, actor=Actor("vmshift replicate --resync"), **clients)

    assert (resync["kind"], resync["bytes_sent"]) == ("resync", replication.mover.chunk_size)
    assert_replicas_equal_source(session, blob_service, replication, VM, tmp_path)
    state = store.load(VM).state
    assert [(c.step, c.phase) for c in state.history] == [
        (Step.REPLICATE, Phase.REPLICATING), (Step.CYCLE_DONE, Phase.PROTECTED),  # the delta changed no phase
        (Step.RESYNC, Phase.REPLICATING), (Step.CYCLE_DONE, Phase.PROTECTED)]

    # Cut over and completed (as the cutover and complete-migration flows record it), then replicated again.
    stored = store.load(VM)
    for step in (Step.CUTOVER, Step.CUTOVER_DONE, Step.COMPLETE):
        advance(stored.state, step, Actor("complete-migration", run="run-77"))
    stored = store.save(stored)
    replica_etag = blob.get_blob_properties().etag

    with pytest.raises(LifecycleRefused, match=r"migrated and completed at .* by run run-77 .*replication is finished"):
        replicate_once(VM, **clients)

    assert store.load(VM).etag == stored.etag and blob.get_blob_properties().etag == replica_etag
    assert vmshift_snapshots(session, VM) == []
