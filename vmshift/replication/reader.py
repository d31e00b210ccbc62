"""Where the mover reads a disk from: the snapshot through vCenter, a local image, later an NBD export."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from vmshift.replication.extents import DiskExtent, clip, coalesce


@runtime_checkable
class DiskReader(Protocol):
    """A disk readable by range; the vSphere datastore reader and an nbdkit/VDDK reader both fit."""

    size: int

    def read(self, offset: int, length: int) -> bytes: ...


class AllocatedReader:
    """A disk read only where it is allocated (QueryChangedDiskAreas("*")): elsewhere it holds zeros, unread."""

    def __init__(self, disk: DiskReader, allocated: list[DiskExtent]) -> None:
        self.disk = disk
        self.size = disk.size
        self.allocated = coalesce(allocated)
        self.bytes_read = 0
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        inside = clip(self.allocated, offset, offset + length)
        with self._lock:
            self.bytes_read += sum(extent.length for extent in inside)
        if len(inside) == 1 and inside[0] == DiskExtent(offset, length):
            return self.disk.read(offset, length)
        data = bytearray(length)
        for extent in inside:
            data[extent.offset - offset : extent.end - offset] = self.disk.read(extent.offset, extent.length)
        return bytes(data)


class LocalDiskReader:
    """A raw disk image on the local filesystem, used by tests, the benchmark and verification."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError(f"{self.path}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    def allocated_areas(self) -> list[DiskExtent]:
        """The image's data extents (SEEK_DATA/SEEK_HOLE), the local stand-in for QueryChangedDiskAreas("*")."""
        areas: list[DiskExtent] = []
        offset = 0
        while offset < self.size:
            try:
                start = os.lseek(self._fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after offset
                break
            end = os.lseek(self._fd, start, os.SEEK_HOLE)
            areas.append(DiskExtent(start, end - start))
            offset = end
        return areas

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> LocalDiskReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
