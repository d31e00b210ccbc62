"""Reading a lab guest's files from a raw disk image without mounting it: debugfs for ext4, ntfscat and hivex
for the Windows registry."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import hivex

from vmshift.lab.guests.disk_image import MIB

ROOT_PARTITION = MIB  # every lab guest's first partition starts at 1 MiB


def ext4_tree(image: Path, target: Path) -> Path:
    """The root filesystem's files, dumped with debugfs (rdump)."""
    target.mkdir()
    subprocess.run(["debugfs", "-R", f"rdump / {target}", f"{image}?offset={ROOT_PARTITION}"],
                   check=True, capture_output=True)
    return target


def _entries(tree: Path) -> dict[str, bytes]:
    found = {}
    for folder, _dirs, files in os.walk(tree):
        for name in files + [d for d in _dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            relative = "/" + os.path.relpath(path, tree)
            found[relative] = b"->" + os.readlink(path).encode() if os.path.islink(path) else Path(path).read_bytes()
    return found


def differing_files(before: Path, after: Path) -> set[str]:
    """Paths whose content (or symlink target) differs, or that exist on one side only."""
    old, new = _entries(before), _entries(after)
    return {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}


def ntfs_file(image: Path, path: str, work: Path) -> bytes:
    """A file of the NTFS system partition: the partition copied out, read with ntfscat."""
    partition = work / f"{image.stem}.ntfs"
    if not partition.exists():
        with open(image, "rb") as disk, open(partition, "wb") as out:
            disk.seek(ROOT_PARTITION)
            out.write(disk.read())
    return subprocess.run(["ntfscat", str(partition), path], check=True, capture_output=True).stdout


def hive_values(data: bytes, name: str, work: Path) -> dict[str, str]:
    """Every value of a hive, as `HKLM\\NAME\\Key\\Path\\Value` -> a printable value."""
    file = work / f"{name}.{len(data)}.hive"
    file.write_bytes(data)
    hive = hivex.Hivex(str(file))
    values: dict[str, str] = {}

    def walk(node: int, path: str) -> None:
        for value in hive.node_values(node):
            kind, _ = hive.value_type(value)
            raw = hive.value_value(value)[1]
            shown = str(struct.unpack("<I", raw)[0]) if kind == 4 else raw.decode("utf-16-le").rstrip("\0") \
                if kind in (1, 2) else raw.hex()
            values[f"{path}\\{hive.value_key(value)}"] = shown
        for child in hive.node_children(node):
            walk(child, f"{path}\\{hive.node_name(child)}")

    walk(hive.root(), f"HKLM\\{name}")
    return values
