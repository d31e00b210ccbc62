"""Verification: stream a source disk and its replica, compare SHA-256 per block range, name the first
offset where they differ."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vmshift.replication.extents import MAX_PAGE_WRITE
from vmshift.replication.reader import DiskReader


@dataclass(frozen=True)
class DiskComparison:
    equal: bool
    first_difference: int | None
    bytes_compared: int


def _block_digests(source: DiskReader, replica: DiskReader, offset: int, length: int) -> int | None:
    """The first differing offset inside the block, or None when the digests match."""
    ours, theirs = source.read(offset, length), replica.read(offset, length)
    if hashlib.sha256(ours).digest() == hashlib.sha256(theirs).digest():
        return None
    return offset + next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)


def compare_disks(
    source: DiskReader, replica: DiskReader, block_size: int = MAX_PAGE_WRITE, concurrency: int = 4
) -> DiskComparison:
    """Compare the source's bytes with the replica's first source.size bytes, `concurrency` blocks at a time."""
    if replica.size < source.size:
        return DiskComparison(False, replica.size, 0)
    blocks = [(o, min(block_size, source.size - o)) for o in range(0, source.size, block_size)]
    compared = 0
    with ThreadPoolExecutor(concurrency, thread_name_prefix="verify") as pool:
        for start in range(0, len(blocks), concurrency):
            window = blocks[start : start + concurrency]
            results = list(pool.map(lambda b: _block_digests(source, replica, *b), window))
            for (_offset, length), difference in zip(window, results, strict=True):
                if difference is not None:
                    return DiskComparison(False, difference, compared + (difference - _offset))
                compared += length
    return DiskComparison(True, None, compared)
