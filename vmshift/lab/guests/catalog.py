"""The lab guests' images, built once and cached under `.cache/guests/` by the hash of their recipe (these
sources, the scripts they put in the guests, and the versions of the Debian packages they are made from)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vmshift.lab.guests import GUEST_IMAGES, GuestImage, debian, linux, windows
from vmshift.lab.guests.disk_image import ImageBuildFailed

# Debian packages whose files end up in the images: a new version is a new recipe.
_INGREDIENTS = ("busybox-static", "grub-pc-bin", "linux-image-amd64", "e2fsprogs", "ntfs-3g", "libguestfs0")
_SOURCES = Path(__file__).parent

__all__ = ["ImageBuildFailed", "guest_image"]

def _recipe_hash(*extra: str) -> str:
    digest = hashlib.sha256()
    for source in sorted([*_SOURCES.glob("*.py"), *(_SOURCES / "scripts").iterdir()]):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    versions = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *_INGREDIENTS],
                              capture_output=True, text=True).stdout
    digest.update(versions.encode())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def _debootstrap_hash() -> str:
    return hashlib.sha256(f"{debian.SUITE} {debian.MIRROR} {debian.PACKAGES}".encode()).hexdigest()[:16]


def _cached(target: Path, build: Callable[[Path, Path], None]) -> Path:
    """Build `target` once: into a temporary folder beside it, then renamed (a concurrent build never sees half)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        partial = work / target.name
        build(partial, work)
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _forget_other_recipes(target)
    return target


def _forget_other_recipes(kept: Path) -> None:
    """Images of an older recipe of the same guest are never used again: they go (a Debian one is 1 GiB)."""
    guest = kept.name.rsplit("-", 1)[0]
    for old in kept.parent.glob(f"{guest}-*{kept.suffix}"):
        if old != kept and old.name.rsplit("-", 1)[0] == guest:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def guest_image(name: GuestImage, cache_dir: Path) -> Path:
    """The raw disk image of a lab guest, built if missing."""
    folder = cache_dir / "guests"
    if name == "debian12":
        tree = folder / f"debian12-tree-{_debootstrap_hash()}"
        if not tree.exists():
            debian.debootstrap(tree)
            _forget_other_recipes(tree)
        return _cached(folder / f"debian12-{_recipe_hash(tree.name)}.img",
                       lambda image, work: debian.build_image(image, tree, work))
    if name == "windows-like":
        return _cached(folder / f"{name}-{_recipe_hash()}.img", windows.build_image)
    guest = {"rhel-like": linux.RHEL_LIKE, "ubuntu-like": linux.UBUNTU_LIKE}[name]
    return _cached(folder / f"{name}-{_recipe_hash()}.img",
                   lambda image, work: linux.build_image(guest, image, work))


def main() -> None:
    """`python -m vmshift.lab.guests.catalog [CACHE_DIR]`: build every lab guest's image, print their paths."""
    cache_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / ".cache"
    for name in GUEST_IMAGES:
        started = time.monotonic()
        try:
            image = guest_image(name, cache_dir)
        except ImageBuildFailed as error:
            sys.exit(str(error))
        print(f"{name}: {image} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
