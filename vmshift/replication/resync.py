"""Resync: when CBT cannot say what changed (changeId refused, disk resized), compare source and replica block by
block and upload only the blocks that differ; a block in which the replica holds no page is compared with zeros,
without downloading it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from vmshift.replication.extents import DiskExtent, plan_writes
from vmshift.replication.mover import DigestRecorder, MoveResult, MoverSettings, WriteOutcome, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import DiskReader


def resync_disk(
    source: DiskReader,
    replica: PageBlobReplica,
    settings: MoverSettings,
    writes: Iterable[DiskExtent] | None = None,
    on_written: Callable[[WriteOutcome], None] | None = None,
    digests: DigestRecorder | None = None,
    check_stop: Callable[[], None] | None = None,
) -> MoveResult:
    """Make the replica equal to the source over the planned `writes` (default: the whole disk), growing the blob
    first."""
    replica.resize(source.size)
    if writes is None:
        writes = plan_writes([DiskExtent(0, source.size)], source.size, settings.chunk_size)
    return move(
        source,
        replica,
        writes,
        settings,
        skip_zero=False,
        unless_equal_to=replica.reader(only_written=True),
        on_written=on_written,
        digests=digests,
        check_stop=check_stop,
    )
