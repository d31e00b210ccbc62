"""Windows registry hives for the Windows-like lab guest. hivex edits hives but cannot create one, so a seed of
8 KiB is written here (a regf base block, one hive bin holding the root key and its security descriptor, per the
format Microsoft documents as "Windows registry file format"), then hivex adds the keys and values."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import hivex

BLOCK = 4096
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
_FILETIME_2024 = 133_500_000_000_000_000  # a fixed time: the seed is the same bytes on every build


def _sid(authority: int, *subauthorities: int) -> bytes:
    return struct.pack("<BB", 1, len(subauthorities)) + authority.to_bytes(6, "big") + b"".join(
        struct.pack("<I", s) for s in subauthorities
    )


def _security_descriptor() -> bytes:
    """Self-relative: owner Administrators, group SYSTEM, a DACL that lets Everyone do everything to keys."""
    owner, group = _sid(5, 32, 544), _sid(5, 18)
    ace_sid = _sid(1, 0)
    ace = struct.pack("<BBHI", 0, 0, 8 + len(ace_sid), 0x000F003F) + ace_sid  # ACCESS_ALLOWED, KEY_ALL_ACCESS
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(ace), 1, 0) + ace
    header = 20
    return struct.pack("<BBHIIII", 1, 0, 0x8004, header, header + len(owner), 0, header + len(owner) + len(group)) \
        + owner + group + acl


def _cell(data: bytes) -> bytes:
    size = -(-(len(data) + 4) // 8) * 8
    return struct.pack("<i", -size) + data + bytes(size - 4 - len(data))


def seed_hive(path: Path, name: str) -> None:
    """An empty hive (root key only) that hivex opens for writing."""
    root_offset = 0x20
    sd = _security_descriptor()
    nk_size = -(-(4 + 0x4C + len(b"ROOT")) // 8) * 8
    sk_offset = root_offset + nk_size
    nk = struct.pack(
        "<2sHQIIIIIIIIIIIIIIIHH", b"nk", 0x2C, _FILETIME_2024, 0, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
        0, 0xFFFFFFFF, sk_offset, 0xFFFFFFFF, 0, 0, 0, 0, 0, len(b"ROOT"), 0,
    ) + b"ROOT"
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_offset, sk_offset, 1, len(sd)) + sd
    cells = _cell(nk) + _cell(sk)
    free = BLOCK - 0x20 - len(cells)
    hbin = struct.pack("<4sIIQQI", b"hbin", 0, BLOCK, 0, _FILETIME_2024, 0) + cells + struct.pack("<i", free) \
        + bytes(free - 4)
    base = bytearray(BLOCK)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, _FILETIME_2024, 1, 3, 0, 1, root_offset, BLOCK, 1)
    base[0x30 : 0x30 + 64] = name.encode("utf-16-le")[:64].ljust(64, b"\0")
    checksum = 0
    for (dword,) in struct.iter_unpack("<I", bytes(base[:508])):
        checksum ^= dword
    struct.pack_into("<I", base, 508, {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(checksum, checksum))
    path.write_bytes(bytes(base) + hbin)


RegistryValue = str | int | bytes


def _value(name: str, value: RegistryValue) -> dict:
    if isinstance(value, bytes):
        return {"key": name, "t": REG_BINARY, "value": value}
    if isinstance(value, int):
        return {"key": name, "t": REG_DWORD, "value": struct.pack("<I", value)}
    kind = REG_EXPAND_SZ if name == "ImagePath" else REG_SZ
    return {"key": name, "t": kind, "value": (value + "\0").encode("utf-16-le")}


def build_hive(path: Path, name: str, keys: Mapping[str, Mapping[str, RegistryValue]]) -> None:
    """A hive holding `keys` ("Path\\To\\Key" -> {value name: str, DWORD or binary}), made from a seed."""
    seed_hive(path, name)
    hive = hivex.Hivex(str(path), write=True)
    for key_path, values in keys.items():
        node = hive.root()
        for part in key_path.split("\\"):
            node = hive.node_get_child(node, part) or hive.node_add_child(node, part)
        if values:
            hive.node_set_values(node, [_value(k, v) for k, v in values.items()])
    hive.commit(str(path))
