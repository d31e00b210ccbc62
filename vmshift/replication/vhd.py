"""The fixed VHD footer that turns a page blob into a disk Azure can import.

Layout and checksum per Microsoft's "Virtual Hard Disk Image Format Specification" (2006), fixed disks:
the data, then a 512-byte footer; Azure wants the data a whole number of MiB.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from dataclasses import dataclass

from vmshift.replication.extents import MIB

FOOTER_SIZE = 512
COOKIE = b"conectix"
FEATURES_RESERVED = 0x00000002  # the spec: "this bit must always be set to 1"
FORMAT_VERSION = 0x00010000
FIXED_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
DISK_TYPE_FIXED = 2
CREATOR_APPLICATION = b"vmsh"
CREATOR_VERSION = 0x00010000
CREATOR_HOST_OS = b"Wi2k"  # what Azure's own tools write
VHD_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_LAYOUT = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427s")


class NotAFixedVhd(ValueError):
    """512 bytes that are not a fixed VHD footer (or one with a bad checksum)."""


@dataclass(frozen=True)
class Geometry:
    cylinders: int
    heads: int
    sectors_per_track: int


@dataclass(frozen=True)
class VhdFooter:
    current_size: int
    original_size: int
    geometry: Geometry
    unique_id: uuid.UUID
    timestamp: dt.datetime


def data_size(capacity_bytes: int) -> int:
    """The VHD's data region for a disk: its capacity rounded up to a whole MiB, as Azure requires."""
    return -(-capacity_bytes // MIB) * MIB


def blob_size(capacity_bytes: int) -> int:
    """The page blob's size for a disk: data region plus footer."""
    return data_size(capacity_bytes) + FOOTER_SIZE


def geometry(size: int) -> Geometry:
    """CHS geometry by the algorithm in the spec's appendix ("CHS Calculation")."""
    total_sectors = min(size // 512, 65535 * 16 * 255)
    if total_sectors >= 65535 * 16 * 63:
        sectors_per_track, heads = 255, 16
        cylinder_times_heads = total_sectors // sectors_per_track
    else:
        sectors_per_track = 17
        cylinder_times_heads = total_sectors // sectors_per_track
        heads = max((cylinder_times_heads + 1023) // 1024, 4)
        if cylinder_times_heads >= heads * 1024 or heads > 16:
            sectors_per_track, heads = 31, 16
            cylinder_times_heads = total_sectors // sectors_per_track
        if cylinder_times_heads >= heads * 1024:
            sectors_per_track, heads = 63, 16
            cylinder_times_heads = total_sectors // sectors_per_track
    return Geometry(cylinder_times_heads // heads, heads, sectors_per_track)


def checksum(footer: bytes) -> int:
    """One's complement of the byte sum, the checksum field itself counted as zero."""
    without = footer[:64] + b"\0\0\0\0" + footer[68:]
    return ~sum(without) & 0xFFFFFFFF


def build_footer(size: int, unique_id: uuid.UUID | None = None, now: dt.datetime | None = None) -> bytes:
    """The footer of a fixed VHD whose data region is `size` bytes."""
    if size % MIB:
        raise ValueError(f"a fixed VHD for Azure holds a whole number of MiB, not {size} bytes")
    geo = geometry(size)
    stamp = int(((now or dt.datetime.now(dt.UTC)) - VHD_EPOCH).total_seconds())
    fields = [
        COOKIE,
        FEATURES_RESERVED,
        FORMAT_VERSION,
        FIXED_DATA_OFFSET,
        stamp,
        CREATOR_APPLICATION,
        CREATOR_VERSION,
        CREATOR_HOST_OS,
        size,
        size,
        geo.cylinders,
        geo.heads,
        geo.sectors_per_track,
        DISK_TYPE_FIXED,
        0,
        (unique_id or uuid.uuid4()).bytes,
        0,
        b"",
    ]
    footer = bytearray(_LAYOUT.pack(*fields))
    footer[64:68] = struct.pack(">I", checksum(bytes(footer)))
    return bytes(footer)


def parse_footer(footer: bytes) -> VhdFooter:
    """Read a fixed VHD footer, refusing anything else."""
    if len(footer) != FOOTER_SIZE:
        raise NotAFixedVhd(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(footer)}")
    (
        cookie,
        _features,
        _version,
        _offset,
        stamp,
        _app,
        _app_version,
        _os,
        original,
        current,
        cylinders,
        heads,
        sectors,
        disk_type,
        stored_checksum,
        unique,
        _saved,
        _reserved,
    ) = _LAYOUT.unpack(footer)
    if cookie != COOKIE or disk_type != DISK_TYPE_FIXED:
        raise NotAFixedVhd(f"not a fixed VHD footer (cookie {cookie!r}, disk type {disk_type})")
    if stored_checksum != checksum(footer):
        raise NotAFixedVhd(f"VHD footer checksum {stored_checksum:#010x} does not match its content")
    return VhdFooter(
        current,
        original,
        Geometry(cylinders, heads, sectors),
        uuid.UUID(bytes=unique),
        VHD_EPOCH + dt.timedelta(seconds=stamp),
    )
