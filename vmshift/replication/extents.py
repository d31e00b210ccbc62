"""Turning changed areas into page writes: coalesced, 512-byte aligned, at most 4 MiB each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SECTOR = 512
MIB = 1024 * 1024
# Azure's Put Page takes at most 4 MiB per request, on 512-byte boundaries.
MAX_PAGE_WRITE = 4 * MIB


class UnalignedDisk(ValueError):
    """The disk's size is not a whole number of 512-byte sectors: it cannot become a page blob."""


@dataclass(frozen=True, order=True)
class DiskExtent:
    """A byte range of a disk."""

    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def check_disk_size(size: int, what: str = "disk") -> None:
    """Refuse a disk whose size a page blob cannot hold."""
    if size <= 0 or size % SECTOR:
        raise UnalignedDisk(f"{what} is {size} bytes, not a positive multiple of {SECTOR}: a page blob cannot hold it")


def coalesce(extents: Iterable[DiskExtent]) -> list[DiskExtent]:
    """Sort and merge overlapping or touching extents, dropping empty ones."""
    merged: list[DiskExtent] = []
    for extent in sorted(e for e in extents if e.length > 0):
        if merged and extent.offset <= merged[-1].end:
            last = merged[-1]
            merged[-1] = DiskExtent(last.offset, max(last.end, extent.end) - last.offset)
        else:
            merged.append(extent)
    return merged


def align(extent: DiskExtent, disk_size: int) -> DiskExtent:
    """Widen an extent to whole sectors, clipped to the disk."""
    start = extent.offset - extent.offset % SECTOR
    end = min(-(-extent.end // SECTOR) * SECTOR, disk_size)
    return DiskExtent(start, max(end - start, 0))


def split(extents: Iterable[DiskExtent], chunk_size: int = MAX_PAGE_WRITE) -> Iterator[DiskExtent]:
    """Cut extents into writes of at most chunk_size bytes, as they are taken (the size is checked at once)."""
    if chunk_size <= 0 or chunk_size % SECTOR or chunk_size > MAX_PAGE_WRITE:
        raise ValueError(f"chunk size {chunk_size} must be a multiple of {SECTOR} up to {MAX_PAGE_WRITE}")
    return _cut(extents, chunk_size)


def _cut(extents: Iterable[DiskExtent], chunk_size: int) -> Iterator[DiskExtent]:
    for extent in extents:
        offset = extent.offset
        while offset < extent.end:
            length = min(chunk_size, extent.end - offset)
            yield DiskExtent(offset, length)
            offset += length


def clip(extents: Iterable[DiskExtent], start: int, end: int) -> list[DiskExtent]:
    """The parts of extents inside [start, end)."""
    clipped = []
    for extent in extents:
        lo, hi = max(extent.offset, start), min(extent.end, end)
        if hi > lo:
            clipped.append(DiskExtent(lo, hi - lo))
    return clipped


def subtract(extents: Iterable[DiskExtent], removed: Iterable[DiskExtent]) -> list[DiskExtent]:
    """The parts of extents not covered by removed (both coalesced first)."""
    holes = coalesce(removed)
    result: list[DiskExtent] = []
    for extent in coalesce(extents):
        offset = extent.offset
        for hole in holes:
            if hole.end <= offset or hole.offset >= extent.end:
                continue
            if hole.offset > offset:
                result.append(DiskExtent(offset, hole.offset - offset))
            offset = max(offset, hole.end)
        if offset < extent.end:
            result.append(DiskExtent(offset, extent.end - offset))
    return result


def plan_areas(areas: Iterable[DiskExtent], disk_size: int) -> list[DiskExtent]:
    """The areas widened to whole sectors and coalesced: as many as the areas, whatever the disk size."""
    check_disk_size(disk_size)
    return coalesce(align(a, disk_size) for a in areas)


def plan_writes(
    areas: Iterable[DiskExtent], disk_size: int, chunk_size: int = MAX_PAGE_WRITE
) -> Iterator[DiskExtent]:
    """The page writes that cover the given areas of a disk, in offset order, made as they are taken: a list of
    them would grow with the disk (about 55 MB per TiB of dense disk at 4 MiB writes)."""
    return split(plan_areas(areas, disk_size), chunk_size)


def total_bytes(extents: Iterable[DiskExtent]) -> int:
    return sum(e.length for e in extents)
