"""The verification after a cutover: every imported managed disk proven whole against the manifest of what was
imported, while the target VM runs.

It reads the disks' frozen copies (managed-disk snapshots the cutover took after the import and before the VM
started, read through their read links), only where they hold pages (Get Page Ranges: the time follows the data,
not the provisioned size), and compares each 64 KiB chunk with the entry the mover recorded as it read the source.
The source side is the manifest: the source stays off, or keeps the final delta's snapshot until this passes.
Progress is checkpointed in the VM's state document, so that a run killed in the middle resumes without reading
again what it proved. A chunk that differs fails the run, naming the disk and the offset; the target VM is left
running, and the differing chunks are marked for the next cycle to write again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import ManagedDiskReader, delete_frozen_copy
from vmshift.migration.cutover import source_vm, update_state
from vmshift.migration.target import target_clients
from vmshift.plan.schema import WavePlanRow
from vmshift.replication.checkpoint import remaining
from vmshift.replication.digests import to_chunks
from vmshift.replication.extents import DiskExtent, coalesce, total_bytes
from vmshift.replication.manifest import Manifest, ManifestMissing
from vmshift.replication.settings import ReplicationSettings, open_clients
from vmshift.replication.verify import prove_copy
from vmshift.state.document import (
    VERIFICATION_FAILED,
    VERIFICATION_PASSED,
    CutoverRecord,
    DiskCheckpoint,
    DiskProof,
    VmState,
)
from vmshift.state.lifecycle import Actor
from vmshift.state.store import StateStore

ManifestOf = Callable[[DiskProof], Manifest]


class NothingToVerify(RuntimeError):
    """The VM has no cutover on record whose disks could be verified."""


class CutoverVerificationFailed(RuntimeError):
    """A migrated disk differs from what was read from the source; the target VM runs on it."""

    def __init__(self, message: str, run: VerificationRun | None = None) -> None:
        super().__init__(message)
        self.run = run


@dataclass(frozen=True)
class VerificationRun:
    """This run's part of the verification: the record as it left it, and what it read (a rerun reads only what
    the runs before it had not proven)."""

    record: CutoverRecord
    bytes_read: int
    seconds: float


def prove_cutover(
    clients: AzureClients,
    record: CutoverRecord,
    manifest_of: ManifestOf,
    save: Callable[[CutoverRecord], None],
    *,
    on_progress: Callable[[float], None] = lambda percent: None,
    concurrency: int = 8,
) -> VerificationRun:
    """Every disk of the record not proven yet, read from its frozen copy and compared with its manifest
    (`manifest_of`: the disk's own, or one whose entries a step that changed the disk replaced). `save` gets the
    record each time a disk's checkpoint moves, from a checkpointing thread. Returns with the verification passed
    or failed; raises only when it could not finish."""
    record = record.model_copy(deep=True)
    lock, started, read = threading.Lock(), time.monotonic(), 0
    with contextlib.ExitStack() as links:
        copies = {key: links.enter_context(ManagedDiskReader(clients, record.resource_group, proof.snapshot,
                                                             snapshot=True))
                  for key, proof in record.disks.items() if not proof.proven.finished}
        pages = {key: copy.page_ranges() for key, copy in copies.items()}
        areas = {key: to_chunks(pages[key], copy.size) for key, copy in copies.items()}
        total = sum(total_bytes(a) for a in areas.values()) or 1
        proven = {key: total_bytes(a) - total_bytes(remaining(a, record.disks[key].proven))
                  for key, a in areas.items()}
        for key, copy in copies.items():
            proof, manifest = record.disks[key], manifest_of(record.disks[key])
            if manifest.disk_size() is None:
                raise ManifestMissing(f"the manifest {manifest.url} of managed disk {proof.managed_disk} is gone "
                                      "(deleted with the cache blobs?): its frozen copy cannot be proven")
            earlier = [DiskExtent(offset, length) for offset, length in proof.mismatches]
            disk_started = time.monotonic()

            def checkpointed(checkpoint: DiskCheckpoint, found: list[DiskExtent], key: str = key,
                             proof: DiskProof = proof, earlier: list[DiskExtent] = earlier) -> None:
                with lock:
                    proof.proven = checkpoint
                    proof.mismatches = _listed(earlier + found)
                    proven[key] = total_bytes(areas[key]) - total_bytes(remaining(areas[key], checkpoint))
                    proof.bytes_read = proven[key]
                    save(record)
                on_progress(100 * sum(proven.values()) / total)

            check = prove_copy(copy, pages[key], manifest, copy.size, proven=proof.proven, save=checkpointed,
                               concurrency=concurrency)
            with lock:
                read += check.bytes_checked
                proof.proven = DiskCheckpoint(resume_offset=copy.size, finished=True)
                proof.mismatches = _listed(earlier + check.mismatched)
                proof.bytes_read = total_bytes(areas[key])
                proof.seconds = round(proof.seconds + time.monotonic() - disk_started, 3)
    failed = any(proof.mismatches for proof in record.disks.values())
    record.verification = VERIFICATION_FAILED if failed else VERIFICATION_PASSED
    record.verified_at = dt.datetime.now(dt.UTC)
    save(record)
    return VerificationRun(record, read, time.monotonic() - started)


def _listed(chunks: list[DiskExtent]) -> list[tuple[int, int]]:
    return [(extent.offset, extent.length) for extent in coalesce(sorted(set(chunks)))]


def mismatch_message(vm: str, record: CutoverRecord) -> str:
    """What a migration engineer reads when a migrated disk differs: which disk, where, and what to do."""
    wrong = [proof for proof in record.disks.values() if proof.mismatches]
    details = "; ".join(
        f"managed disk {proof.managed_disk} (source disk {proof.key}) differs at byte offset {proof.mismatches[0][0]}"
        f" ({sum(length for _, length in proof.mismatches)} bytes in {len(proof.mismatches)} range(s))"
        for proof in wrong)
    return (f"{vm}: the target VM {record.target_vm} runs on disks that differ from the source: {details}. The "
            f"target VM was left running. Roll back (`vmshift rollback --vm {vm}`: the source starts again), then cut "
            "over again: the next cycle writes the differing chunks again from the source (a resync of them). "
            f"Frozen copies kept for a look: {', '.join(proof.snapshot for proof in wrong)} in "
            f"{record.resource_group}")


def verify_vm_cutover(vm: WavePlanRow, on_progress: Callable[[float], None] = lambda percent: None) -> VerificationRun:
    """The row's last cutover proven (or the rest of it, after a run that stopped); passed: the frozen copies and
    a source snapshot kept for a running source go. Failed: CutoverVerificationFailed, the differing chunks marked
    for the next cycle to write again."""
    settings = ReplicationSettings.from_env(vm.cache_storage_account)
    store = open_clients(settings).store
    record = store.load(vm.source_vm).state.cutover
    if record is None or not record.target_vm_id:
        raise NothingToVerify(f"{vm.source_vm}: no cutover that built a target VM is recorded; nothing to verify")
    clients = target_clients(vm)[0]  # the frozen copies are beside the VM, in its target_subscription
    if record.verification not in (VERIFICATION_PASSED, VERIFICATION_FAILED):
        run = prove_cutover(clients, record, cache_manifests(settings, vm.source_vm), _saver(store, vm.source_vm),
                            on_progress=on_progress, concurrency=settings.mover.concurrency)
    else:
        run = VerificationRun(record, 0, 0.0)
    record = run.record
    if record.verification == VERIFICATION_FAILED:
        _mark_for_rewrite(store, vm.source_vm, record)
        raise CutoverVerificationFailed(mismatch_message(vm.source_vm, record), run)
    for proof in record.disks.values():
        delete_frozen_copy(clients, record.resource_group, proof.snapshot)
    if record.source_snapshot is not None:
        source_vm(vm, Actor.here("verify-cutover")).release(record.source_snapshot)  # no lifecycle step
    return run


def cache_manifests(settings: ReplicationSettings, vm: str) -> ManifestOf:
    """The manifests a cutover's disks are proven against: blobs (at a snapshot) beside the VM's state document."""
    replication = open_clients(settings)

    def manifest_of(proof: DiskProof) -> Manifest:
        disk = replication.manifest(vm, str(proof.key))
        return Manifest(disk.container, proof.manifest_blob, disk.owner, proof.manifest)
    return manifest_of


def _saver(store: StateStore, vm: str) -> Callable[[CutoverRecord], None]:
    def save(record: CutoverRecord) -> None:
        def keep(state: VmState) -> bool:
            state.cutover = record
            return True
        update_state(store, vm, keep, "the verification of its cutover")
    return save


def _mark_for_rewrite(store: StateStore, vm: str, record: CutoverRecord) -> None:
    """The chunks that differ are written again by the next cycle, whatever CBT says (a rollback, then a cutover
    from that cycle, migrates them right)."""
    def mark(state: VmState) -> bool:
        for key, proof in record.disks.items():
            disk = state.disks.get(key)
            if disk is not None:
                disk.rewrite = sorted(set(disk.rewrite) | {tuple(chunk) for chunk in proof.mismatches})
        return True
    update_state(store, vm, mark, "the chunks its verification found different")
