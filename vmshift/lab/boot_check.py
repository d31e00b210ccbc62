"""The lab's boot check: a Linux guest's disk boots in QEMU from its own bootloader (BIOS, GRUB from the disk's
MBR, the disk's own grub.cfg, its kernel and initramfs) on a virtio bus behind another disk, so the guest's disk
is /dev/vdb where VMware had /dev/sda, and the guest must say on the serial port that it is up.

It proves what QEMU can show: the bootloader, the kernel command line, the initramfs finding root by UUID, fstab
and the serial console. It cannot prove the Hyper-V devices (QEMU has no VMBus or storvsc): the initramfs is
checked for those drivers by listing it. Software emulation (TCG) only, always with a timeout."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BOOTED = "VMSHIFT-BOOT-OK"
FAILED = "VMSHIFT-BOOT-FAILED"
# The kernel's first line: on the serial port only when console=ttyS0 is on its command line.
KERNEL_BANNER = re.compile(r"Linux version \d")
BLANK_DISK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class BootResult:
    booted: bool  # the guest's init (or systemd unit) said it is up, after fstab
    kernel_console: bool  # the kernel's messages reached ttyS0
    failure: str | None
    serial: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.booted and self.kernel_console

    def reason(self) -> str:
        """Why the boot check failed, as a person reads it."""
        reasons = [self.failure] if self.failure else []
        if not self.kernel_console:
            reasons.append("no kernel messages on the serial console (ttyS0)")
        if not self.booted and not self.failure:
            reasons.append("the guest never said it was up")
        return "; ".join(reasons) or "passed"


def boot_check(disk: Path, work: Path, timeout_s: float = 300.0) -> BootResult:
    """Boot a raw disk image (never written: QEMU's snapshot mode) until the guest powers off or the timeout."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise FileNotFoundError("qemu-system-x86_64 is missing: install qemu-system-x86 (make setup does it)")
    blank, serial = work / "blank.img", work / "serial.log"
    with open(blank, "wb") as image:
        image.truncate(BLANK_DISK_BYTES)
    serial.unlink(missing_ok=True)
    command = [
        qemu, "-accel", "tcg", "-m", "768", "-nodefaults", "-display", "none", "-no-reboot",
        "-serial", f"file:{serial}",
        "-drive", f"file={blank},format=raw,if=none,id=blank",
        "-device", "virtio-blk-pci,drive=blank,addr=0x4",
        "-drive", f"file={disk},format=raw,if=none,id=guest,snapshot=on",
        "-device", "virtio-blk-pci,drive=guest,addr=0x5,bootindex=1",
    ]
    started = time.monotonic()
    try:
        subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    output = serial.read_text(errors="replace") if serial.exists() else ""
    failure = next((line.strip() for line in output.splitlines() if FAILED in line), None)
    if failure is None and timed_out and BOOTED not in output:
        failure = f"no answer from the guest within {timeout_s:.0f} s"
    return BootResult(booted=BOOTED in output, kernel_console=bool(KERNEL_BANNER.search(output)),
                      failure=failure, serial=output[-4000:], seconds=round(time.monotonic() - started, 1))
