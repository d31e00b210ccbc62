"""Memory of the data mover whatever the disk size: bounded by concurrency x chunk, not by the number of writes."""

from __future__ import annotations

import tracemalloc

from vmshift.replication.checkpoint import Checkpointer, DiskProgress
from vmshift.replication.extents import MAX_PAGE_WRITE, MIB, DiskExtent, plan_areas, split, total_bytes
from vmshift.replication.mover import MoverSettings, move
from vmshift.state.document import DiskCheckpoint

GIB = 1024 * MIB
TIB = 1024 * GIB
CHUNK = b"\x5a" * MAX_PAGE_WRITE  # every read returns this one buffer: the test measures the mover, not the data


class DenseDisk:
    """A disk of data everywhere, read without I/O, and a replica that keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        return CHUNK if length == MAX_PAGE_WRITE else CHUNK[:length]

    def upload_page(self, offset: int, data: bytes) -> None:
        pass

    def clear_page(self, offset: int, length: int) -> None:
        pass


def peak_bytes_of_a_whole_disk_copy(size: int) -> tuple[int, DiskCheckpoint]:
    """Plan, move and checkpoint every 4 MiB of the disk as a cycle does (a resync, or a dense disk's initial
    copy); returns the peak of Python memory allocated meanwhile and the last checkpoint saved."""
    disk = DenseDisk(size)
    saved: list[DiskCheckpoint] = []

    def save(checkpoint: DiskCheckpoint, _sent: int) -> None:
        saved[:] = [checkpoint]  # the last one only: a list of them would grow with the disk
    tracemalloc.start()
    try:
        planned = plan_areas([DiskExtent(0, size)], size)
        progress = DiskProgress(total_bytes(planned))
        with Checkpointer(progress, save) as checkpointer:
            writes = progress.track(split(planned))
            move(disk, disk, writes, MoverSettings(concurrency=4), skip_zero=False, on_written=checkpointer.written)
        return tracemalloc.get_traced_memory()[1], saved[-1]
    finally:
        tracemalloc.stop()


def test_copying_a_1_tib_disk_takes_no_more_memory_than_a_64_gib_one() -> None:
    small, small_done = peak_bytes_of_a_whole_disk_copy(64 * GIB)
    large, large_done = peak_bytes_of_a_whole_disk_copy(TIB)
    assert (small_done.finished, small_done.resume_offset) == (True, 64 * GIB)
    assert (large_done.finished, large_done.resume_offset) == (True, TIB)
    assert large < small + MIB, f"peak {large / MIB:.1f} MiB for 1 TiB, {small / MIB:.1f} MiB for 64 GiB"
