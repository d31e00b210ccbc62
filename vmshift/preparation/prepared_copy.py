"""The prepared copy: a fresh page blob holding the recovery point with the preparation's blocks written over it,
which the managed disk is imported from. Fresh, and written page by page through the appliance: a server-side
Copy Blob would be cheaper, but in Azurite writes to such a copy change its source (and the replica must stay equal
to the source), and Azurite has no Put Page From URL. The replica and its snapshots are only read.

At cutover the copy gets a manifest too, which the verification after the cutover proves the imported disk against:
the recovery point's manifest (the digests the mover took of the source as it read it), with the entries of the
chunks the preparation changed replaced by those of the prepared bytes."""

from __future__ import annotations

import re
from contextlib import suppress

from azure.core.exceptions import ResourceNotFoundError

from vmshift.preparation.view import NbdView
from vmshift.replication.digests import digests_of, to_chunks
from vmshift.replication.extents import MAX_PAGE_WRITE, DiskExtent, coalesce, plan_writes, split, subtract
from vmshift.replication.manifest import PAGE, Manifest
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import OWNER_KEY, BlobNotOurs, PageBlobReplica, put_page
from vmshift.replication.reader import DiskReader


def prepared_name(replica_name: str, snapshot_id: str) -> str:
    """One prepared copy per recovery point: `<replica>.prepared-<snapshot time>`."""
    return f"{replica_name}.prepared-{re.sub(r'[^0-9A-Za-z]', '', snapshot_id)}"


def write_prepared_copy(
    replica: PageBlobReplica, snapshot_id: str, view: NbdView, changed: list[DiskExtent], mover: MoverSettings
) -> tuple[PageBlobReplica, int]:
    """The recovery point's pages and the changed blocks, in a new blob beside the replica (an earlier attempt's
    copy of the same recovery point is replaced). Returns the copy and the bytes it was sent."""
    owner = f"{replica.owner} prepared from {snapshot_id}"
    prepared = PageBlobReplica(replica.container, prepared_name(replica.name, snapshot_id), owner)
    with suppress(ResourceNotFoundError):
        metadata = prepared.blob.get_blob_properties().metadata or {}
        if metadata.get(OWNER_KEY) != owner:
            raise BlobNotOurs(f"blob {prepared.url} exists and is not vmshift's prepared copy of {replica.owner} "
                              f"({OWNER_KEY}={metadata.get(OWNER_KEY)!r}); move or delete it")
        prepared.blob.delete_blob()
    snapshot = replica.container.get_blob_client(replica.name, snapshot=snapshot_id)
    blob_size = snapshot.get_blob_properties().size
    pages = coalesce(DiskExtent(p["start"], p["end"] + 1 - p["start"]) for p in snapshot.list_page_ranges())
    source = replica.reader(snapshot_id)
    prepared.blob.create_page_blob(blob_size, metadata={OWNER_KEY: owner})
    base = move(source, prepared, plan_writes(subtract(pages, changed), blob_size, mover.chunk_size), mover,
                skip_zero=True)
    overlay = move(view, prepared, plan_writes(changed, blob_size, mover.chunk_size), mover, skip_zero=True)
    return prepared, base.bytes_sent + overlay.bytes_sent


def write_prepared_manifest(
    recovery_point: Manifest, snapshot_id: str, prepared: DiskReader, changed: list[DiskExtent]
) -> Manifest:
    """The prepared copy's manifest, beside the disk's (`<manifest>.prepared-<snapshot time>`, the disk's owner):
    the recovery point's entries page by page, then those of every chunk a changed extent touches digested from
    `prepared` (the prepared disk as written). An earlier attempt's is replaced. Returns it at its snapshot."""
    manifest = Manifest(recovery_point.container, prepared_name(recovery_point.name, snapshot_id),
                        recovery_point.owner)
    manifest.start_over(prepared.size)
    written = [DiskExtent(p["start"], p["end"] + 1 - p["start"]) for p in recovery_point.blob.list_page_ranges()]
    for extent in split(written, MAX_PAGE_WRITE):  # an all-zero chunk's entry is zeros, which is no page
        data = recovery_point.read_pages(extent.offset // PAGE, extent.length // PAGE)
        put_page(manifest.blob, extent.offset, data, f"manifest of {manifest.owner}")
    writer = manifest.writer(prepared.size, fresh=False)
    for chunk in to_chunks(changed, prepared.size):
        writer.record(chunk, digests_of(prepared.read(chunk.offset, chunk.length)))
    writer.flush()
    return manifest.at(manifest.snapshot())
