"""Lab guests with real filesystems: disk images a VM of the lab spec can start with (`"image": NAME` on a disk).
`catalog.guest_image` builds them; the names live here so that the spec reads them without libguestfs."""

from __future__ import annotations

from typing import Literal

GuestImage = Literal["rhel-like", "ubuntu-like", "windows-like", "debian12"]
GUEST_IMAGES: tuple[GuestImage, ...] = ("rhel-like", "ubuntu-like", "windows-like", "debian12")
