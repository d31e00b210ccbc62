"""The fixed-VHD footer as Azure's disk import checks it.

The lab reads footers with its own code, not the product's (vmshift.replication.vhd), so that a
product bug in writing them cannot hide behind the same bug in checking them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FOOTER_SIZE = 512
MIB = 1024 * 1024
_FIXED = 2


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
