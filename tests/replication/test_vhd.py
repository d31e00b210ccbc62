import json
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from vmshift.replication.extents import MIB
from vmshift.replication.vhd import (
    FOOTER_SIZE,
    Geometry,
    NotAFixedVhd,
    blob_size,
    build_footer,
    checksum,
    geometry,
    parse_footer,
)


def qemu_info(path: Path) -> dict:
    out = subprocess.run(
        [
            "qemu-img",
            "info",
            "--output=json",
            "--image-opts",
            f"driver=vpc,force_size_calc=current_size,file.filename={path}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def test_footer_fields_follow_the_vhd_specification() -> None:
    unique = uuid.uuid4()
    footer = build_footer(64 * MIB, unique)
    assert len(footer) == FOOTER_SIZE
    assert footer[:8] == b"conectix"
    assert struct.unpack(">I", footer[8:12])[0] == 2  # features: reserved bit set
    assert struct.unpack(">I", footer[12:16])[0] == 0x00010000
    assert struct.unpack(">Q", footer[16:24])[0] == 0xFFFFFFFFFFFFFFFF  # fixed disks have no header
    assert struct.unpack(">QQ", footer[40:56]) == (64 * MIB, 64 * MIB)
    assert struct.unpack(">I", footer[60:64])[0] == 2  # fixed
    assert struct.unpack(">I", footer[64:68])[0] == checksum(footer)
    assert footer[68:84] == unique.bytes
    assert parse_footer(footer).unique_id == unique


def test_geometry_follows_the_specifications_chs_algorithm() -> None:
    # Worked by hand from the spec's appendix: 64 MiB = 131072 sectors -> 17 spt, 8 heads, 7710 // 8 cylinders;
    # 127 GiB -> 255 spt, 16 heads; beyond 65535 * 16 * 255 sectors the geometry is capped.
    assert geometry(64 * MIB) == Geometry(963, 8, 17)
    assert geometry(127 * 1024 * MIB) == Geometry(65278, 16, 255)
    assert geometry(200 * 1024 * MIB) == Geometry(65535, 16, 255)


def test_a_damaged_footer_is_refused() -> None:
    footer = bytearray(build_footer(MIB))
    footer[45] ^= 1
    with pytest.raises(NotAFixedVhd, match="checksum"):
        parse_footer(bytes(footer))
    with pytest.raises(NotAFixedVhd, match="cookie"):
        parse_footer(bytes(512))


def test_blob_is_capacity_rounded_to_a_mib_plus_the_footer() -> None:
    assert blob_size(64 * MIB) == 64 * MIB + 512
    assert blob_size(64 * MIB + 512) == 65 * MIB + 512


def test_qemu_img_opens_our_fixed_vhd_and_reports_the_capacity(tmp_path: Path) -> None:
    image = tmp_path / "disk.vhd"
    with open(image, "wb") as f:
        f.truncate(48 * MIB)
        f.seek(48 * MIB)
        f.write(build_footer(48 * MIB))
    info = qemu_info(image)
    assert info["format"] == "vpc"
    assert info["virtual-size"] == 48 * MIB
