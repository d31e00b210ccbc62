"""Disk images assembled without root and without mounting, so that CI can build them: an MBR partition table
written here, ext4 filesystems that mke2fs makes from directory trees at their partition's offset, and GRUB's
BIOS boot code in the MBR and the gap before the first partition (what grub-install would write)."""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
GRUB_I386_PC = Path("/usr/lib/grub/i386-pc")
# Bytes of boot.img that go into the MBR: the rest of the sector is the disk signature and the partition table.
_MBR_CODE = 440
_PARTITION_TABLE = 446
LINUX = 0x83
NTFS = 0x07
# e2fsprogs 1.47 turns orphan_file on by default; GRUB 2.06 (Debian 12) refuses such a filesystem.
_EXT4_FEATURES = "^orphan_file,^metadata_csum_seed"


class ImageBuildFailed(RuntimeError):
    """A lab guest image could not be built; the message carries what the tool said."""


@dataclass(frozen=True)
class Partition:
    """A primary partition: start and size in bytes (whole MiB, as every partitioning tool aligns them)."""

    start: int
    size: int
    type_id: int
    bootable: bool = False

    @property
    def end(self) -> int:
        return self.start + self.size


def run(command: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess:
    """Run a build tool; a failure raises ImageBuildFailed with its output."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise ImageBuildFailed(f"{what}: {' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def create_image(path: Path, size: int, partitions: list[Partition], disk_id: int) -> None:
    """A sparse image file of `size` bytes with an MBR holding `partitions`."""
    if size % MIB or any(p.start % MIB or p.size % MIB or p.end > size for p in partitions):
        raise ImageBuildFailed(f"{path.name}: partitions must be whole MiB inside the {size}-byte disk")
    mbr = bytearray(SECTOR)
    struct.pack_into("<I", mbr, _MBR_CODE, disk_id)
    for index, partition in enumerate(partitions):
        # CHS fields say "use LBA" (0xfe 0xff 0xff), as parted and fdisk write them for disks past 8 GiB.
        entry = struct.pack(
            "<B3sB3sII", 0x80 if partition.bootable else 0, b"\xfe\xff\xff", partition.type_id, b"\xfe\xff\xff",
            partition.start // SECTOR, partition.size // SECTOR,
        )
        mbr[_PARTITION_TABLE + 16 * index : _PARTITION_TABLE + 16 * (index + 1)] = entry
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as image:
        image.truncate(size)
        image.write(mbr)


def make_ext4(image: Path, partition: Partition, tree: Path, uuid: str, label: str) -> None:
    """An ext4 filesystem holding `tree`, written into the image at the partition's offset (mke2fs -d); the same
    tree gives the same bytes (fixed time, UUID and directory hash seed)."""
    run(
        ["mke2fs", "-F", "-q", "-t", "ext4", "-b", "4096", "-O", _EXT4_FEATURES, "-d", str(tree), "-U", uuid,
         "-L", label, "-E", f"offset={partition.start},root_owner=0:0,hash_seed={uuid}", str(image),
         f"{partition.size // 1024}k"],
        f"ext4 for {image.name}",
        env={"E2FSPROGS_FAKE_TIME": "1700000000", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def install_grub_bios(image: Path, first_partition: Partition, root_uuid: str, prefix: str, work: Path) -> None:
    """GRUB for BIOS, as grub-install puts it on a disk: boot.img's code in the MBR, core.img in the sectors
    before the first partition. core.img finds the filesystem by UUID and reads `prefix`/grub.cfg from it (the
    disk's own grub.cfg), with GRUB's modules in `prefix`/i386-pc of that filesystem."""
    early = work / "early.cfg"
    early.write_text(f"search --no-floppy --fs-uuid --set=root {root_uuid}\nset prefix=($root){prefix}\n")
    core = work / "core.img"
    run(
        ["grub-mkimage", "-O", "i386-pc", "-o", str(core), "-c", str(early), "-p", prefix,
         "biosdisk", "part_msdos", "ext2", "search", "search_fs_uuid", "normal", "configfile", "linux", "echo",
         "serial", "terminal", "test", "gzio"],
        f"GRUB core image for {image.name}",
    )
    code = core.read_bytes()
    # grub-mkimage writes the blocklist for core.img at sector 1; it must end before the first partition.
    if SECTOR + len(code) > first_partition.start:
        raise ImageBuildFailed(f"GRUB's core.img ({len(code)} bytes) does not fit before the first partition")
    boot = (GRUB_I386_PC / "boot.img").read_bytes()
    with open(image, "r+b") as disk:
        disk.write(boot[:_MBR_CODE])
        disk.seek(SECTOR)
        disk.write(code)


def grub_modules() -> list[Path]:
    """GRUB's modules and lists, which the disk's filesystem carries under `prefix`/i386-pc."""
    return sorted(p for p in GRUB_I386_PC.iterdir() if p.suffix in (".mod", ".lst"))
