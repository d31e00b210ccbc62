"""Disk images for the tests, and replicas read back the way a user would: downloaded, opened with qemu-img."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.vhd import FOOTER_SIZE


def download(replica: PageBlobReplica, path: Path) -> Path:
    with open(path, "wb") as out:
        replica.blob.download_blob().readinto(out)
    return path


def data_region(vhd: Path, capacity: int) -> bytes:
    return vhd.read_bytes()[:capacity]


def qemu_identical(raw: Path, vhd: Path) -> bool:
    """`qemu-img compare` of a raw image and our fixed VHD opened as vpc (no header to probe)."""
    done = subprocess.run(
        [
            "qemu-img",
            "compare",
            "--image-opts",
            f"driver=raw,file.filename={raw}",
            f"driver=vpc,force_size_calc=current_size,file.filename={vhd}",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def footer_of(vhd: Path) -> bytes:
    return vhd.read_bytes()[-FOOTER_SIZE:]


def write_image(path: Path, size: int, writes: dict[int, bytes] | None = None) -> Path:
    """A sparse raw disk image of `size` bytes with the given data at the given offsets."""
    with open(path, "wb") as image:
        image.truncate(size)
        for offset, data in (writes or {}).items():
            image.seek(offset)
            image.write(data)
    return path


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)
