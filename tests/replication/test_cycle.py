"""Replication cycles against the lab: vcsim (CBT, snapshots, guest writes) and Azurite, through the product's
own clients. Each test uses its own VM of tests/lab-spec.json."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from images import download, footer_of, qemu_identical, random_bytes
from pyVmomi import vim

from vmshift.lab.guest import write_guest
from vmshift.lab.vcenter_role import role_held
from vmshift.replication.cycle import CycleStopped, ReplicationSettings, replicate_once
from vmshift.replication.extents import MIB, DiskExtent, UnalignedDisk
from vmshift.replication.hygiene import ReplicationInProgress, has_snapshots
from vmshift.replication.pageblob import BlobNotOurs, PageBlobReplica
from vmshift.replication.verify import verify_vm
from vmshift.replication.vhd import parse_footer
from vmshift.state.document import Claim, CycleInProgress, DiskCheckpoint
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.snapshots import create_snapshot, find_snapshots, remove_snapshot, snapshot_disks
from vmshift.vsphere.tasks import wait_for_task

pytestmark = pytest.mark.lab


def source_disks(session: VSphereSession, vm_name: str) -> dict[int, bytes]:
    """The VM's disks as a snapshot freezes them now, read as the product reads them."""
    vm = find_vm(session, vm_name)
    probe = create_snapshot(session, vm, "test-probe")
    try:
        return {
            d.key: open_disk(session, d.datastore_path, d.capacity_bytes).read(0, d.capacity_bytes)
            for d in snapshot_disks(probe)
        }
    finally:
        remove_snapshot(session, probe)


def replica(blob_service: BlobServiceClient, chosen: ReplicationSettings, vm: str, key: int) -> PageBlobReplica:
    container = blob_service.get_container_client(chosen.replica_container)
    return PageBlobReplica(container, f"{vm}/disk-{key}.vhd", owner=f"{vm}/disk-{key}")


def assert_replicas_equal_source(
    session: VSphereSession, blob_service: BlobServiceClient, chosen: ReplicationSettings, vm: str, folder: Path
) -> None:
    for key, data in source_disks(session, vm).items():
        vhd = download(replica(blob_service, chosen, vm, key), folder / f"{vm}-{key}.vhd")
        raw = folder / f"{vm}-{key}.raw"
        raw.write_bytes(data)
        with open(vhd, "rb") as downloaded:
            assert downloaded.read(len(data)) == data, f"disk {key} of {vm} differs"
        assert qemu_identical(raw, vhd)
        assert parse_footer(footer_of(vhd)).current_size == len(data)


def vmshift_snapshots(session: VSphereSession, vm: str) -> list:
    found = find_vm(session, vm)
    return find_snapshots(found, "vmshift-") if has_snapshots(session, found) else []


@pytest.fixture(scope="module")
def initial_cycle(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict:
    for offset, length in ((0, 3000), (5 * MIB - 100, 300_000), (14 * MIB, 2 * MIB)):
        write_guest(lab, "repl-cycle-01", offset, random_bytes(length, offset))
    report = replicate_once("repl-cycle-01", session=session, blob_service=blob_service, settings=replication)
    assert_replicas_equal_source(
        session, blob_service, replication, "repl-cycle-01", tmp_path_factory.mktemp("initial")
    )
    return report


def test_initial_cycle_copies_what_is_allocated_and_leaves_a_recovery_point(initial_cycle: dict) -> None:
    assert initial_cycle["vm"] == "repl-cycle-01"
    assert initial_cycle["cycle"] == 1 and initial_cycle["kind"] == "initial"
    assert 0 < initial_cycle["bytes_sent"] <= initial_cycle["changed_bytes"] < 24 * MIB
    assert sorted(d["key"] for d in initial_cycle["disks"]) == [2000, 2001]
    assert all(d["recovery_point"] and d["blob_url"].endswith(".vhd") for d in initial_cycle["disks"])


writes = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),  # which disk
        st.one_of(st.integers(0, 8 * MIB - 1), st.sampled_from([MIB - 10, 2 * MIB - 700, 4 * MIB - 1])),
        st.integers(1, 300_000),
        st.booleans(),  # zeros over data, or random bytes
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(churn=writes)
# Always, besides what hypothesis draws: zeros over a whole chunk the initial cycle copied (14 MiB of disk
# 2000), which the delta must clear rather than skip, and writes straddling a chunk border on each disk.
@example(churn=[(0, 14 * MIB, MIB, True), (0, MIB - 10, 300_000, False), (1, 2 * MIB - 700, 1400, False)])
def test_delta_cycles_after_guest_churn_keep_the_replica_byte_equal(
    churn: list,
    initial_cycle: dict,
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sizes = {0: 16 * MIB, 1: 8 * MIB}
    for disk, offset, length, zeros in churn:
        length = min(length, sizes[disk] - offset)
        data = bytes(length) if zeros else random_bytes(length, offset + length)
        write_guest(lab, "repl-cycle-01", offset, data, disk_key=2000 + disk)
    report = replicate_once("repl-cycle-01", session=session, blob_service=blob_service, settings=replication)
    assert report["kind"] == "delta"
    assert report["bytes_sent"] <= report["changed_bytes"]
    assert report["changed_bytes"] < 24 * MIB
    assert vmshift_snapshots(session, "repl-cycle-01") == []
    assert_replicas_equal_source(session, blob_service, replication, "repl-cycle-01", tmp_path_factory.mktemp("d"))
    state = StateStore(blob_service.get_container_client(replication.state_container)).load("repl-cycle-01").state
    assert len(state.recovery_points) == 2  # keep_recovery_points
    assert state.recovery_points[-1].cycle == report["cycle"]
    assert verify_vm("repl-cycle-01", session=session, blob_service=blob_service, settings=replication)["equal"]


def test_verify_names_the_first_offset_the_guest_changed_since_the_last_cycle(
    initial_cycle: dict,
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
) -> None:
    write_guest(lab, "repl-cycle-01", 7 * MIB + 5, b"\x5a" * 10, disk_key=2001)
    result = verify_vm("repl-cycle-01", session=session, blob_service=blob_service, settings=replication)
    assert not result["equal"]
    assert {d["key"]: d["first_difference"] for d in result["disks"]} == {2000: None, 2001: 7 * MIB + 5}
    assert vmshift_snapshots(session, "repl-cycle-01") == []


class AfterReads:
    """Opens the source as the product does; every read after the first `reads` calls `then` first (the
    injected event: a lost datastore connection, a stop request)."""

    def __init__(self, reads: int, then: Callable[[], None]) -> None:
        self.reads, self.then = reads, then

    def __call__(self, session: VSphereSession, path: str, capacity: int) -> object:
        reader, test = open_disk(session, path, capacity), self

        class Injected:
            size = capacity

            def read(self, offset: int, length: int) -> bytes:
                test.reads -= 1
                if test.reads < 0:
                    test.then()
                return reader.read(offset, length)

        return Injected()


def lose_the_datastore() -> None:
    raise ConnectionResetError("injected: datastore connection lost")


@pytest.mark.parametrize(("vm", "interruption"), [("repl-fail-01", "datastore lost"), ("repl-stop-01", "stop request")])
def test_an_interrupted_cycle_leaves_no_snapshot_keeps_what_it_copied_and_the_next_one_resumes(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
    vm: str,
    interruption: str,
) -> None:
    write_guest(lab, vm, 0, random_bytes(8 * MIB, 41))
    stop = threading.Event()
    then, error, phase, said = ((lose_the_datastore, ConnectionResetError, "failed", "injected")
                                if interruption == "datastore lost"
                                else (stop.set, CycleStopped, "stopped", f"{vm} was stopped on request"))
    with pytest.raises(error, match=said):
        replicate_once(vm, session=session, blob_service=blob_service, settings=replication,
                       open_reader=AfterReads(3, then), stop=stop)
    assert vmshift_snapshots(session, vm) == []
    state = StateStore(blob_service.get_container_client(replication.state_container)).load(vm).state
    assert state.phase == phase and said in state.error
    assert state.in_progress is not None and state.in_progress.claim is None
    copied = sum(c.resume_offset for c in state.in_progress.checkpoints.values())
    assert copied >= 3 * replication.mover.chunk_size
    assert 100 * copied / (8 * MIB) <= state.in_progress.percent_done < 100  # what `vmshift status` shows

    report = replicate_once(vm, session=session, blob_service=blob_service, settings=replication)
    assert report["cycle"] == 1
    assert report["bytes_sent"] <= 8 * MIB - copied
    assert_replicas_equal_source(session, blob_service, replication, vm, tmp_path)


def test_a_cbt_reset_leads_to_a_resync_that_sends_only_the_differing_blocks(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
) -> None:
    write_guest(lab, "repl-reset-01", 0, random_bytes(8 * MIB, 51))
    replicate_once("repl-reset-01", session=session, blob_service=blob_service, settings=replication)
    write_guest(lab, "repl-reset-01", 5 * MIB + 100, random_bytes(200, 52))
    vm = find_vm(session, "repl-reset-01")
    for on in (False, True):  # what an admin or a backup tool's "reset CBT" does
        wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(changeTrackingEnabled=on)))

    report = replicate_once("repl-reset-01", session=session, blob_service=blob_service, settings=replication)
    assert report["kind"] == "resync"
    assert report["bytes_sent"] == replication.mover.chunk_size
    assert_replicas_equal_source(session, blob_service, replication, "repl-reset-01", tmp_path)


def extend_first_disk(lab: dict, session: VSphereSession, vm_name: str, capacity: int) -> None:
    """Extend the VM's first disk as an admin does in vSphere: a device edit with the new capacity, which
    vmshift's role may not do (VirtualMachine.Config.DiskExtend)."""
    vm = find_vm(session, vm_name)
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    disk.capacityInBytes, disk.capacityInKB = capacity, capacity // 1024
    change = vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)
    with role_held(lab, "Admin"):
        wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[change])))


def test_a_grown_disk_is_resized_and_replicated(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
) -> None:
    write_guest(lab, "repl-grow-01", 0, random_bytes(2 * MIB, 61))
    replicate_once("repl-grow-01", session=session, blob_service=blob_service, settings=replication)
    extend_first_disk(lab, session, "repl-grow-01", 12 * MIB)
    write_guest(lab, "repl-grow-01", 10 * MIB, random_bytes(MIB, 62))

    report = replicate_once("repl-grow-01", session=session, blob_service=blob_service, settings=replication)
    assert report["kind"] == "resync"
    assert report["bytes_sent"] == MIB
    assert_replicas_equal_source(session, blob_service, replication, "repl-grow-01", tmp_path)


def test_a_disk_of_a_size_no_page_blob_can_hold_is_refused_before_any_blob_and_leaves_no_snapshot(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
) -> None:
    write_guest(lab, "repl-odd-01", 0, random_bytes(MIB, 81))
    extend_first_disk(lab, session, "repl-odd-01", 8 * MIB + 100)

    with pytest.raises(UnalignedDisk) as refused:
        replicate_once("repl-odd-01", session=session, blob_service=blob_service, settings=replication)
    assert "repl-odd-01/disk-2000" in str(refused.value) and "8388708 bytes" in str(refused.value)
    replicas = blob_service.get_container_client(replication.replica_container)
    assert list(replicas.list_blob_names(name_starts_with="repl-odd-01/")) == []
    assert vmshift_snapshots(session, "repl-odd-01") == []
    state = StateStore(blob_service.get_container_client(replication.state_container)).load("repl-odd-01").state
    assert state.phase == "failed" and "UnalignedDisk" in state.error


def test_a_second_run_on_a_vm_being_replicated_stops_before_touching_it(
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
) -> None:
    store = StateStore(blob_service.get_container_client(replication.state_container))
    stored = store.load("repl-fail-01")
    claim = Claim(
        run_id="other", host="appliance-2", pid=1, heartbeat_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    stored.state.in_progress = CycleInProgress(cycle=9, kind="delta", started_at=claim.heartbeat_at, claim=claim)
    store.save(stored)
    with pytest.raises(ReplicationInProgress, match="appliance-2"):
        replicate_once("repl-fail-01", session=session, blob_service=blob_service, settings=replication)
    assert vmshift_snapshots(session, "repl-fail-01") == []
    assert store.load("repl-fail-01").state.in_progress.claim.run_id == "other"


KILLED_RUN = """
import json, sys
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.mover import MoverSettings
settings = ReplicationSettings(cache_account="vmshiftcache01", replica_container=sys.argv[1],
                               state_container=sys.argv[2], mover=MoverSettings(concurrency=4, chunk_size=%d,
                               bandwidth_mb_s=float(sys.argv[3])))
print(json.dumps(replicate_once("repl-kill-01", settings=settings)))
"""


KILL_CAPACITY = 1024 * MIB  # repl-kill-01's disk in tests/lab-spec.json
# An eighth of the disk in 8 MiB guest writes, one every 64 MiB: data from the first to the last MiB of the
# 1 GiB disk, while the test moves an eighth of what a full disk costs (a full one took 102 s at Azurite's
# ~30 MB/s on this 2-core machine).
KILL_DATA = [DiskExtent(offset, 8 * MIB) for offset in range(0, KILL_CAPACITY, 64 * MIB)]


def not_checkpointed(areas: list[DiskExtent], checkpoint: DiskCheckpoint) -> int:
    """Bytes of MiB-aligned areas a checkpoint does not cover: the least a resumed run must still send."""
    data = {mib for a in areas for mib in range(a.offset // MIB, a.end // MIB)}
    covered = set(range(checkpoint.resume_offset // MIB))
    for offset, length in checkpoint.done_beyond:
        covered.update(range(offset // MIB, (offset + length) // MIB))
    return len(data - covered) * MIB


def test_kill_9_during_initial_replication_then_a_new_run_resumes_from_the_checkpoint(
    lab: dict,
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
    tmp_path: Path,
) -> None:
    for extent in KILL_DATA:
        write_guest(lab, "repl-kill-01", extent.offset, random_bytes(extent.length, extent.offset))
    store = StateStore(blob_service.get_container_client(replication.state_container))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN % replication.mover.chunk_size, replication.replica_container,
         replication.state_container, "24"],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        while True:  # until a quarter of the disk is checkpointed, then kill -9
            assert child.poll() is None, child.stderr.read().decode()
            progress = store.load("repl-kill-01").state.in_progress
            checkpoint = progress.checkpoints.get("2000") if progress else None
            if checkpoint is not None and checkpoint.resume_offset >= KILL_CAPACITY // 4:
                break
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert len(vmshift_snapshots(session, "repl-kill-01")) == 1  # the crashed run's snapshot
    checkpoint = store.load("repl-kill-01").state.in_progress.checkpoints["2000"]
    assert not checkpoint.finished
    # The state document lists only what is done past the resume offset: a list of every write done would
    # grow with the disk, and each checkpoint uploads it again.
    assert all(offset >= checkpoint.resume_offset for offset, _ in checkpoint.done_beyond), checkpoint
    still_to_send = not_checkpointed(KILL_DATA, checkpoint)

    report = replicate_once("repl-kill-01", session=session, blob_service=blob_service, settings=replication)
    sent_again = report["bytes_sent"] - still_to_send
    assert 0 <= sent_again <= replication.mover.concurrency * replication.mover.chunk_size
    assert report["cycle"] == 1
    assert len(report["leftover_snapshots_removed"]) == 1
    assert vmshift_snapshots(session, "repl-kill-01") == []
    assert_replicas_equal_source(session, blob_service, replication, "repl-kill-01", tmp_path)
    assert report["kind"] == "initial"


def test_a_blob_that_is_not_ours_stops_the_cycle_and_is_left_untouched(
    session: VSphereSession,
    blob_service: BlobServiceClient,
    replication: ReplicationSettings,
) -> None:
    run = uuid.uuid4().hex[:10]
    elsewhere = ReplicationSettings(
        cache_account="vmshiftcache01",
        replica_container=f"foreign-{run}",
        state_container=f"state-{run}",
        mover=replication.mover,
    )
    foreign = blob_service.create_container(elsewhere.replica_container)
    try:
        foreign.upload_blob("repl-grow-01/disk-2000.vhd", b"a VHD someone copied here by hand")
        with pytest.raises(BlobNotOurs, match="will not overwrite"):
            replicate_once("repl-grow-01", session=session, blob_service=blob_service, settings=elsewhere)
        assert foreign.download_blob("repl-grow-01/disk-2000.vhd").readall() == b"a VHD someone copied here by hand"
        assert vmshift_snapshots(session, "repl-grow-01") == []
    finally:
        foreign.delete_container()
        blob_service.delete_container(elsewhere.state_container)
