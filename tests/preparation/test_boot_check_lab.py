"""The lab's boot check: a prepared Linux guest boots in QEMU from its own bootloader on a virtio disk behind
another disk, to its marker on the serial console. The rhel-like guest's test VM disk, prepared and not, is booted in
test_test_migration_lab.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PreparedGuest

from vmshift.lab.boot_check import boot_check

pytestmark = pytest.mark.lab

# Under emulation a busybox guest boots in about 10 s, Debian with systemd in 30-60 s; a loaded CI runner is slower.
TIMEOUT_S = 600


@pytest.mark.parametrize("vm", ["prep-ubuntu-01", "prep-debian-01"])
def test_a_prepared_linux_guest_boots_from_its_own_grub_on_another_bus_with_its_console_on_ttys0(
    vm: str, prepared_guest: Callable[[str], PreparedGuest], tmp_path: Path
) -> None:
    result = boot_check(prepared_guest(vm).prepared, tmp_path, TIMEOUT_S)
    assert result.passed, f"{vm}: {result.reason()}\n{result.serial}"
    assert "vdb1" in result.serial  # the guest's disk was the second virtio disk, not /dev/sda
