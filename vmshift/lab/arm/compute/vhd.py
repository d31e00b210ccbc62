"""The fixed-VHD footer, as Azure's disk import checks it (the lab's own reading, independent of the product's)."""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass

FOOTER_SIZE = 512
MIB = 1024 * 1024
_FIXED = 2
_VHD_EPOCH = 946684800  # 2000-01-01T00:00:00Z, where VHD timestamps start


class InvalidVhd(ValueError):
    """The bytes are not a fixed VHD footer: Azure answers InvalidParameter 'not a supported VHD'."""


@dataclass(frozen=True)
class VhdFooter:
    current_size: int
    disk_type: int


def _checksum(footer: bytes) -> int:
    return ~sum(footer[:64] + b"\0\0\0\0" + footer[68:]) & 0xFFFFFFFF


def parse_footer(footer: bytes) -> VhdFooter:
    if len(footer) != FOOTER_SIZE or footer[:8] != b"conectix":
        raise InvalidVhd("the VHD footer's cookie is not 'conectix'")
    (stored,) = struct.unpack(">I", footer[64:68])
    if stored != _checksum(footer):
        raise InvalidVhd("the VHD footer's checksum does not match")
    current_size, disk_type = struct.unpack(">Q", footer[48:56])[0], struct.unpack(">I", footer[60:64])[0]
    if disk_type != _FIXED:
        raise InvalidVhd(f"the VHD is of type {disk_type}, not fixed (2)")
    return VhdFooter(current_size, disk_type)


def _geometry(size: int) -> tuple[int, int, int]:
    """CHS geometry from the VHD specification's algorithm."""
    sectors = min(size // 512, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        return min(sectors // (16 * 255), 65535), 16, 255
    per_track = 17
    cylinder_heads = sectors // per_track
    heads = max((cylinder_heads + 1023) // 1024, 4)
    if cylinder_heads >= heads * 1024 or heads > 16:
        per_track, heads = 31, 16
        cylinder_heads = sectors // per_track
    if cylinder_heads >= heads * 1024:
        per_track, heads = 63, 16
        cylinder_heads = sectors // per_track
    return cylinder_heads // heads, heads, per_track


def build_footer(size: int) -> bytes:
    """A fixed-VHD footer for `size` data bytes: what an Empty managed disk exports as."""
    cylinders, heads, sectors = _geometry(size)
    footer = bytearray(
        b"conectix" + struct.pack(">IIQI", 2, 0x00010000, 0xFFFFFFFFFFFFFFFF, int(time.time()) - _VHD_EPOCH)
        + b"vmsl" + struct.pack(">I", 0x00010000) + b"Wi2k" + struct.pack(">QQ", size, size)
        + struct.pack(">HBB", cylinders, heads, sectors) + struct.pack(">I", _FIXED) + b"\0\0\0\0"
        + uuid.uuid4().bytes + b"\0"
    )
    footer += b"\0" * (FOOTER_SIZE - len(footer))
    footer[64:68] = struct.pack(">I", _checksum(bytes(footer)))
    return bytes(footer)
