"""Preparation against the lab: each guest VM of tests/lab-spec.json replicated once per session and test-migrated
once through the `test-migrate` flow, whose preparation of its recovery point (libguestfs under emulation takes a
minute or more) the tests share: `prepared_guest` reads it back from its record (`prepare_once`)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from azure.storage.blob import BlobClient, BlobServiceClient
from prefect.artifacts import Artifact

from flows.test_migrate import test_migrate
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import artifact_key
from vmshift.migration.target import clean_up_test_vm
from vmshift.plan.schema import OsType, Wave
from vmshift.plan.validation import validate_plan
from vmshift.preparation.prepare import Preparation, prepare_once
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.mover import MoverSettings
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import DiskReader
from vmshift.replication.storage import blob_service_client
from vmshift.replication.vhd import FOOTER_SIZE
from vmshift.state.lifecycle import Actor
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect

CACHE_ACCOUNT = "vmshiftcache01"
GUEST_VMS = ("prep-rhel-01", "prep-ubuntu-01", "prep-win-01", "prep-debian-01")
EXAMPLE_PLAN = Path(__file__).parents[2] / "examples" / "waves.csv"
# ext4 spreads a guest's data over the disk: holes are found at this grain, not per 4 MiB chunk.
SPARSE_BLOCK = 64 * 1024
PREPARATION_TESTS = Actor("tests/preparation")  # who takes the clean-ups' lifecycle steps


@dataclass(frozen=True)
class PreparedGuest:
    vm: str
    replica: PageBlobReplica
    snapshot_id: str
    preparation: Preparation
    source: Path  # the recovery point's data region, downloaded before preparation
    prepared: Path  # the prepared copy's data region
    test_migration: dict  # the VM's row in the test-migrate flow's result
    report: str  # the flow's Markdown report (its artifact)


def guest_wave(vm: str, **planned: object) -> Wave:
    """A wave of one VM, planned as the example plan's web-rhel-02 (Windows for the Windows guest), preparing its
    OS disk unless `planned` says otherwise."""
    plan = validate_plan(EXAMPLE_PLAN, now=pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime()).raise_for_errors()
    template = next(row for row in plan.waves[0].vms if row.source_vm == "web-rhel-02")
    row = dataclasses.replace(template, **{
        "source_vm": vm, "target_vm_name": vm, "nics": (), "cache_storage_account": CACHE_ACCOUNT,
        "os_type": OsType.WINDOWS if "win" in vm else OsType.LINUX, "prepare_os": True, **planned})
    return dataclasses.replace(plan.waves[0], name=f"osprep-{vm}", vms=(row,))


def run_test_migrate(wave: Wave) -> tuple[dict, str]:
    """The flow's row for the wave's one VM, and its Markdown report."""
    result = asyncio.run(test_migrate(wave, appliance=Appliance()))
    artifact = Artifact.get(artifact_key("test-migration", wave.name))
    assert artifact is not None
    return result["vms"][0], artifact.data


def write_sparse(read: Callable[[int, int], bytes], size: int, path: Path) -> Path:
    """A disk's data region as a raw image file, sparse where the disk is zeros (a Debian guest's disk is 1 GiB,
    half of it empty, and the tests keep several)."""
    with open(path, "wb") as out:
        for offset in range(0, size, 4 << 20):
            chunk = memoryview(read(offset, min(4 << 20, size - offset)))
            for start in range(0, len(chunk), SPARSE_BLOCK):
                block = chunk[start : start + SPARSE_BLOCK]
                if block.tobytes().count(0) == len(block):
                    out.seek(len(block), os.SEEK_CUR)
                else:
                    out.write(block)
        out.truncate(size)
    return path


def download(blob: BlobClient, path: Path) -> Path:
    """A blob's (or snapshot's) data region as a sparse raw image file."""
    size = blob.get_blob_properties().size - FOOTER_SIZE
    return write_sparse(lambda offset, length: blob.download_blob(offset=offset, length=length).readall(), size, path)


def download_disk(reader: DiskReader, path: Path) -> Path:
    return write_sparse(reader.read, reader.size, path)


@pytest.fixture(scope="session")
def guest_blob_service(lab: dict) -> BlobServiceClient:
    return blob_service_client(CACHE_ACCOUNT)


@pytest.fixture(scope="session")
def guest_replication(guest_blob_service: BlobServiceClient) -> Iterator[ReplicationSettings]:
    """The appliance's own containers (the flows find the VMs' state there); the session's guests are removed
    from them at the end."""
    chosen = ReplicationSettings(cache_account=CACHE_ACCOUNT, mover=MoverSettings(concurrency=4))
    yield chosen
    for vm in (*GUEST_VMS, "cbt-probe-01"):
        replicas = guest_blob_service.get_container_client(chosen.replica_container)
        for blob in replicas.list_blobs(name_starts_with=f"{vm}/"):
            replicas.delete_blob(blob.name, delete_snapshots="include")
        states = guest_blob_service.get_container_client(chosen.state_container)
        for blob in [*states.list_blobs(name_starts_with=f"{vm}/"), *states.list_blobs(name_starts_with=f"{vm}.")]:
            states.delete_blob(blob.name, delete_snapshots="include")


@pytest.fixture(scope="session")
def replicated_guest(
    guest_session: VSphereSession, guest_blob_service: BlobServiceClient, guest_replication: ReplicationSettings
) -> Callable[[str], tuple[PageBlobReplica, str]]:
    """`replicated_guest(vm)`: (its OS disk's replica, the recovery point's snapshot id), one cycle per session."""
    done: dict[str, tuple[PageBlobReplica, str]] = {}

    def get(vm: str) -> tuple[PageBlobReplica, str]:
        if vm not in done:
            report = replicate_once(vm, session=guest_session, blob_service=guest_blob_service,
                                    settings=guest_replication)
            disk = report["disks"][0]
            container = guest_blob_service.get_container_client(guest_replication.replica_container)
            replica = PageBlobReplica(container, f"{vm}/disk-{disk['key']}.vhd", owner=f"{vm}/disk-{disk['key']}")
            done[vm] = replica, disk["recovery_point"]
        return done[vm]

    return get


@pytest.fixture(scope="session")
def guest_session(lab: dict) -> Iterator[VSphereSession]:
    with connect(VCenterConfig.from_env()) as opened:
        yield opened


@pytest.fixture(scope="session")
def prepared_guest(
    prefect_harness: None, cache_reached_privately: str, replicated_guest: Callable[[str], tuple[PageBlobReplica, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], PreparedGuest]]:
    """`prepared_guest(vm)`: the VM replicated (one cycle) and test-migrated through the flow, which prepared its
    recovery point, once per session (the flow asks the cache account's DNS gate first). The downloaded disks and
    the test VMs go at the end of the session."""
    done: dict[str, PreparedGuest] = {}

    def get(vm: str) -> PreparedGuest:
        if vm not in done:
            replica, snapshot_id = replicated_guest(vm)
            folder = tmp_path_factory.mktemp(vm)
            source = download(replica.container.get_blob_client(replica.name, snapshot=snapshot_id),
                              folder / "source.raw")
            wave = guest_wave(vm)
            row, report = run_test_migrate(wave)
            assert row["outcome"] == "test-migrated", row
            preparation = prepare_once(replica, snapshot_id, vm)  # the flow's, read back from its record
            assert preparation.prepared_blob == row["preparation"]["prepared_blob"]
            prepared_name = preparation.prepared_blob.split(f"/{replica.container.container_name}/", 1)[1]
            prepared = download(replica.container.get_blob_client(prepared_name), folder / "prepared.raw")
            done[vm] = PreparedGuest(vm, replica, snapshot_id, preparation, source, prepared, row, report)
        return done[vm]

    yield get
    for prepared in done.values():
        clean_up_test_vm(guest_wave(prepared.vm).vms[0], PREPARATION_TESTS)
        shutil.rmtree(prepared.source.parent, ignore_errors=True)
