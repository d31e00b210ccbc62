"""Preparing a recovery point's OS disk for Azure: view, inspect, rules, prepared copy. Prefect-free: the flows
call `prepare_recovery_point` and put its result in their reports."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient
from pydantic import BaseModel, ConfigDict

from vmshift.preparation.appliance import new_handle, preparation_slot
from vmshift.preparation.changes import Change, Finding, GuestOs
from vmshift.preparation.errors import PreparationFailed, RuleFailed
from vmshift.preparation.guest import Guest, open_guest
from vmshift.preparation.prepared_copy import prepared_name, write_prepared_copy, write_prepared_manifest
from vmshift.preparation.registry import Registry
from vmshift.preparation.rules import Rule, rules_for
from vmshift.preparation.view import NbdView, open_view
from vmshift.replication.extents import DiskExtent
from vmshift.replication.manifest import Manifest
from vmshift.replication.mover import MoverSettings
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import DiskReader

RECORD_SUFFIX = ".preparation.json"


class Preparation(BaseModel):
    """What preparing one recovery point's OS disk did: for the reports and the byte verification."""

    model_config = ConfigDict(frozen=True)

    vm: str
    disk: str
    recovery_point: str
    os: GuestOs
    rules: list[str]
    skipped_rules: list[str]
    changes: list[Change]
    findings: list[Finding]
    prepared_blob: str
    # The prepared copy's manifest (a blob beside the state document, at a snapshot): written when the recovery
    # point's manifest was given, at cutover, for the verification that follows it.
    manifest_blob: str | None = None
    manifest_snapshot: str | None = None
    changed_extents: list[tuple[int, int]]  # the disk ranges (offset, length) the changes wrote
    bytes_sent: int
    seconds: float


def prepare_recovery_point(
    replica: PageBlobReplica,
    snapshot_id: str,
    vm: str,
    *,
    skip_rules: frozenset[str] = frozenset(),
    mover: MoverSettings | None = None,
    manifest: Manifest | None = None,
) -> Preparation:
    """Prepare the OS disk of a recovery point: the replica and the snapshot are read, never written; the result
    is a prepared copy beside the replica, and a manifest of it when `manifest` (the recovery point's) is given.
    Raises UnrecognisedOs or RuleFailed (a PreparationFailed) before anything is written to Azure."""
    what = f"VM {vm}, disk {replica.owner}, recovery point {snapshot_id}"
    started = time.monotonic()
    snapshot = replica.container.get_blob_client(replica.name, snapshot=snapshot_id)
    with tempfile.TemporaryDirectory(prefix="vmshift-preparation-") as folder:
        work = Path(folder)
        with open_view(snapshot, work, os.environ.get("VMSHIFT_CA_FILE")) as view:
            guest, rules = _run_rules(view, work, what, skip_rules)
            view.stop()
            changed = view.written_extents()
            prepared, sent = write_prepared_copy(replica, snapshot_id, view, changed, mover or MoverSettings())
            copy_manifest = None if manifest is None else write_prepared_manifest(
                manifest, snapshot_id, PreparedSourceReader(replica.reader(snapshot_id), view,
                                                            [(e.offset, e.length) for e in changed]), changed)
    return Preparation(
        vm=vm, disk=replica.owner, recovery_point=snapshot_id, os=guest.os, rules=[r.name for r in rules],
        skipped_rules=sorted(skip_rules),
        changes=guest.log.changes, findings=guest.log.findings, prepared_blob=prepared.url,
        manifest_blob=copy_manifest.name if copy_manifest else None,
        manifest_snapshot=copy_manifest.snapshot_id if copy_manifest else None,
        changed_extents=[(e.offset, e.length) for e in changed], bytes_sent=sent,
        seconds=round(time.monotonic() - started, 1),
    )


def _run_rules(view: NbdView, work: Path, what: str, skip_rules: frozenset[str]) -> tuple[Guest, list[Rule]]:
    """libguestfs on the view, in one of the appliance's slots: inspect the guest, run its rules, save."""
    with preparation_slot():
        handle = new_handle()
        try:
            handle.add_drive_opts("", format="raw", protocol="nbd", server=[f"unix:{view.socket}"])
            handle.launch()
            guest = open_guest(handle, what)
            rules = rules_for(guest.os.type, skip_rules)
            registry = Registry(guest, work) if guest.os.type == "windows" else None
            for rule in rules:
                try:
                    rule.apply(registry if rule.os == "windows" else guest)
                except PreparationFailed:
                    raise
                except RuntimeError as error:
                    raise RuleFailed(f"{what}: rule {rule.name} failed: {error}") from None
            if registry is not None:
                registry.save()
            handle.umount_all()
            handle.shutdown()
        finally:
            handle.close()
    return guest, rules


def prepare_once(
    replica: PageBlobReplica,
    snapshot_id: str,
    vm: str,
    *,
    skip_rules: frozenset[str] = frozenset(),
    mover: MoverSettings | None = None,
    manifest: Manifest | None = None,
) -> Preparation:
    """The recovery point's preparation, done once: its record is kept beside the prepared copy
    (`<prepared copy>.preparation.json`, written last), so that a retried test migration or cutover reuses both
    instead of preparing again. A record of other skipped rules, without its copy, or without the manifest asked
    for, is done again."""
    record = replica.container.get_blob_client(prepared_name(replica.name, snapshot_id) + RECORD_SUFFIX)
    try:
        stored = Preparation.model_validate_json(record.download_blob().readall())
    except ResourceNotFoundError:
        stored = None
    if (stored is not None and stored.recovery_point == snapshot_id and stored.skipped_rules == sorted(skip_rules)
            and (manifest is None or stored.manifest_snapshot is not None)
            and _exists(replica.container.get_blob_client(prepared_name(replica.name, snapshot_id)))):
        return stored
    preparation = prepare_recovery_point(replica, snapshot_id, vm, skip_rules=skip_rules, mover=mover,
                                         manifest=manifest)
    record.upload_blob(preparation.model_dump_json().encode(), overwrite=True)
    return preparation


def _exists(blob: BlobClient) -> bool:
    try:
        blob.get_blob_properties()
    except ResourceNotFoundError:
        return False
    return True


class PreparedSourceReader:
    """The source disk as the prepared disk must be: the source's bytes, except inside the changed extents, where
    the prepared copy's. Verification compares the Azure disk with this."""

    def __init__(self, source: DiskReader, prepared: DiskReader, changed: list[tuple[int, int]]) -> None:
        self.source = source
        self.prepared = prepared
        self.changed = [DiskExtent(o, n) for o, n in changed]
        self.size = source.size

    def read(self, offset: int, length: int) -> bytes:
        data = bytearray(self.source.read(offset, length))
        for extent in self.changed:
            lo, hi = max(extent.offset, offset), min(extent.end, offset + length)
            if hi > lo:
                data[lo - offset : hi - offset] = self.prepared.read(lo, hi - lo)
        return bytes(data)
