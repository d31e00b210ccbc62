"""libguestfs handles as the appliance opens them.

libguestfs is not on PyPI: the venv sees Debian's python3-guestfs through a .pth file that `make setup` writes,
pointing at links to its guestfs.py and its extension module (the venv's Python must be Debian's 3.11 ABI).

libguestfs runs its own small VM. Under software emulation (TCG) it works everywhere, including a VM without
nested virtualisation and hosts whose /dev/kvm hangs ordinary guest kernels; `VMSHIFT_LIBGUESTFS_ACCEL=kvm` lets it
use KVM where that works. Each such VM takes MEMORY_MIB of memory and, under emulation, most of a core: an appliance
runs `VMSHIFT_PREPARATIONS` of them at a time (default 2), across every flow run on it (`preparation_slot`).
"""

from __future__ import annotations

import fcntl
import importlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from vmshift.preparation.errors import ToolMissing

if TYPE_CHECKING:
    import guestfs

# update-initramfs inside a guest compresses tens of MiB of modules: the default 768 MiB is tight.
MEMORY_MIB = 1024
DEFAULT_PREPARATIONS = 2


def debian_module(name: str) -> ModuleType:
    """`guestfs` or `hivex`, imported when a preparation needs it: a vmshift without them still runs every VM
    whose plan turns preparation off."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ToolMissing(f"the appliance's Python cannot import {name} ({error}): install Debian's python3-guestfs "
                          "and python3-hivex and link them into the venv (`make debian-modules`), or turn OS "
                          "preparation off for the VM (prepare_os=no)") from None


def new_handle() -> guestfs.GuestFS:
    """A libguestfs handle, not launched, with the direct backend (no libvirt on an appliance)."""
    handle = debian_module("guestfs").GuestFS(python_return_dict=True)
    handle.set_backend("direct")
    if os.environ.get("VMSHIFT_LIBGUESTFS_ACCEL", "tcg") != "kvm":
        handle.set_backend_settings(["force_tcg"])
    handle.set_memsize(MEMORY_MIB)
    return handle


@contextmanager
def preparation_slot(poll_s: float = 1.0) -> Iterator[None]:
    """One of the appliance's `VMSHIFT_PREPARATIONS` slots, held while a libguestfs VM runs: a wave of fifty VMs
    test-migrated at once prepares a few at a time instead of starting fifty VMs of MEMORY_MIB each. Slots are
    locked files (flock), so they hold across processes (each flow run is one) and free themselves when a
    process dies."""
    slots = int(os.environ.get("VMSHIFT_PREPARATIONS", DEFAULT_PREPARATIONS))
    folder = Path(tempfile.gettempdir()) / f"vmshift-preparation-slots-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    while True:
        for slot in range(max(slots, 1)):
            descriptor = os.open(folder / f"slot-{slot}", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            try:
                yield
            finally:
                os.close(descriptor)  # closing it releases the lock
            return
        time.sleep(poll_s)
