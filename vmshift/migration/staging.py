"""Staged disks: the VM's managed disks built from its latest recovery point while the source still runs, so that
the outage writes into them only what the final delta changed, whatever the disk's size. Azure Migrate's agentless
replication writes into managed disks for the same reason.

A disk Azure does not take as an upload (under 20 MiB) is imported inside the outage, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from azure.mgmt.core.tools import resource_id

from vmshift.azure.built import ROLLBACK_WITH_DISKS, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import StagedDisk, can_stage, stage_disk
from vmshift.azure.vms import BuildPlan
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.extents import DiskExtent, clip, split, subtract, total_bytes
from vmshift.replication.pageblob import BlobDiskReader
from vmshift.replication.readback import Mirror
from vmshift.replication.settings import open_clients
from vmshift.replication.vhd import build_footer

log = logging.getLogger(__name__)
COPY_THREADS = 8  # 4 MiB pieces in flight, read from the cache and written to the disk


@dataclass
class StagedDisks:
    """The disks staged for one cutover, by source disk key, and the recovery point they hold."""

    point: int
    disks: dict[int, StagedDisk] = field(default_factory=dict)
    pages: dict[int, list[DiskExtent]] = field(default_factory=dict)  # what each disk was filled with
    ids: list[str] = field(default_factory=list)  # the disks' resource IDs, as they are made
    bytes_copied: int = 0
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.disks)

    def mirrors(self) -> dict[int, Mirror]:
        return {key: disk.write for key, disk in self.disks.items()}


@dataclass(frozen=True)
class CacheStaging:
    """Stages a VM's disks from its replica in the cache account (the pages its recovery point holds)."""

    settings: ReplicationSettings
    vm: str

    def stage(self, clients: AzureClients, plan: BuildPlan, keys: Sequence[int],
              only: Collection[int]) -> StagedDisks:
        """The disks of `only` that Azure takes as uploads, each made for upload and filled from the latest
        recovery point. `keys`: the source keys in the order of `plan.disks`."""
        started = time.monotonic()
        state = open_clients(self.settings).store.load(self.vm).state
        staged = StagedDisks(point=state.recovery_points[-1].cycle)
        group = plan.spec.resource_group
        with naming_what_exists(f"the staging of VM {self.vm}'s disks", staged.ids, ROLLBACK_WITH_DISKS):
            for key, (disk, _lun) in zip(keys, plan.disks, strict=True):
                capacity = state.disks[str(key)].capacity_bytes
                if key not in only or not can_stage(capacity):
                    continue
                staged.disks[key] = stage_disk(clients, disk, capacity, resource_group=group,
                                               location=plan.spec.region, tags=plan.disk_tags)
                staged.ids.append(resource_id(subscription=clients.config.subscription_id, resource_group=group,
                                              namespace="Microsoft.Compute", type="disks", name=disk.name))
                staged.pages[key] = self.fill(staged.disks[key], key)
                staged.bytes_copied += total_bytes(staged.pages[key])
        staged.seconds = time.monotonic() - started
        log.info("%s: %d disks staged from recovery point %d (%d bytes) in %.1f s", self.vm, len(staged.disks),
                 staged.point, staged.bytes_copied, staged.seconds)
        return staged

    def refill(self, staged: StagedDisks, keys: Collection[int]) -> int:
        """The staged disks of `keys` filled again, whole, from the latest recovery point: the final delta's ranges
        did not bring them to it (it was no delta of the point they hold). Returns the bytes copied."""
        copied = 0
        for key in keys:
            staged.pages[key] = self.fill(staged.disks[key], key, holding=staged.pages[key])
            copied += total_bytes(staged.pages[key])
        return copied

    def fill(self, disk: StagedDisk, key: int, holding: Sequence[DiskExtent] = ()) -> list[DiskExtent]:
        """Copies every page of the disk's latest recovery point, and the VHD footer; returns the pages copied.

        `holding`: the pages the disk was filled with before. Those the point has not (the guest zeroed them since,
        and a cycle cleared them in the replica) are cleared too: copying the point's pages alone would leave the
        older bytes there."""
        clients = open_clients(self.settings)
        point = clients.store.load(self.vm).state.recovery_points[-1]
        reader = clients.replica(self.vm, str(key)).reader(point.blob_snapshots[str(key)], only_written=True)
        pages = clip(reader.written or [], 0, reader.size)
        stale = subtract(holding, pages)  # a clear of any length: only an update is bounded by 4 MiB
        with ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="staging") as pool:
            list(pool.map(lambda piece: _copy(reader, disk, piece.offset, piece.length), split(pages)))
            list(pool.map(lambda piece: disk.clear(piece.offset, piece.length), stale))
        disk.write(reader.size, build_footer(reader.size))
        return pages


def _copy(reader: BlobDiskReader, disk: StagedDisk, offset: int, length: int) -> None:
    disk.write(offset, reader.read(offset, length))
