"""A real Debian 12 lab guest: debootstrap of bookworm with Debian's kernel, systemd and initramfs-tools, set up as
a VMware install would leave it (fstab on /dev/sda1, a static ens192, open-vm-tools, an initramfs of the VMware
drivers only), so that the preparation runs the guest's own update-initramfs.

debootstrap needs root (chroot, device nodes), as CI and `make setup` have; the image itself is then assembled
without mounting, like the other lab guests. Kernel modules that the guest never loads (graphics, sound, wireless,
USB...) are removed to keep the image under half a GiB."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from vmshift.lab.guests.disk_image import MIB, ImageBuildFailed, run
from vmshift.lab.guests.linux import GRUB_CFG, HOSTONLY_DRIVERS, assemble, install_grub_modules

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "kmod", "ifupdown", "isc-dhcp-client",
            "open-vm-tools")
HOSTNAME = "app-debian-lab"
ROOT_UUID = "8c3e4b0a-5d9f-4e7b-9a43-2f7b9cadbe01"
DATA_UUID = "8c3e4b0a-5d9f-4e7b-9a43-2f7b9cadbe02"
DISK_MIB = 1024
PRUNED = ("kernel/sound", "kernel/drivers/gpu", "kernel/drivers/media", "kernel/drivers/infiniband",
          "kernel/drivers/usb", "kernel/drivers/iio", "kernel/drivers/staging", "kernel/drivers/hwmon",
          "kernel/drivers/net/wireless", "kernel/drivers/net/ethernet", "kernel/drivers/bluetooth",
          "kernel/drivers/isdn", "kernel/drivers/hid", "kernel/net/wireless", "kernel/net/mac80211",
          "kernel/net/bluetooth")
BOOT_MARKER_UNIT = """[Unit]
Description=vmshift lab: tell the boot check on the serial port that the system is up, then power off
After=local-fs.target multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "VMSHIFT-BOOT-OK $(cat /etc/hostname)" > /dev/ttyS0; systemctl poweroff --force'

[Install]
WantedBy=multi-user.target
"""


def debootstrap(tree: Path) -> None:
    """Debian 12 with its kernel into `tree` (once: the caller caches it)."""
    if os.geteuid() != 0:
        raise ImageBuildFailed("debootstrap of the Debian 12 lab guest needs root (as make setup and CI run)")
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), MIRROR],
        "debootstrap of Debian 12")
    partial.replace(tree)


def build_image(image: Path, bootstrapped: Path, work: Path) -> None:
    """The Debian 12 disk from a debootstrapped tree (copied, then set up as a VMware install)."""
    tree = work / "root"
    run(["cp", "-a", str(bootstrapped), str(tree)], "copy of the Debian 12 tree")
    kver = sorted(p.name for p in (tree / "lib/modules").iterdir())[-1]
    for folder in PRUNED:
        shutil.rmtree(tree / "lib/modules" / kver / folder, ignore_errors=True)
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                   "usr/share/locale"):
        shutil.rmtree(tree / folder, ignore_errors=True)
        (tree / folder).mkdir(parents=True)
    files = {
        "etc/hostname": f"{HOSTNAME}\n",
        "etc/fstab": "# /etc/fstab: static file system information.\n"
                     "/dev/sda1  /    ext4  errors=remount-ro  0 1\n"
                     "/dev/sda2  /srv ext4  defaults           0 2\n",
        "etc/network/interfaces": "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
                                  "allow-hotplug ens192\niface ens192 inet static\n    address 10.0.12.41/24\n"
                                  "    gateway 10.0.12.1\n",
        "etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || '
                            'echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
        "boot/grub/grub.cfg": GRUB_CFG.format(title="Debian GNU/Linux", cmdline="quiet", initrd="initrd.img",
                                              initrd_suffix="").format(root_uuid=ROOT_UUID, kver=kver),
        "etc/initramfs-tools/modules": "# List of modules to include in the initramfs (MODULES=list)\n"
                                       + "".join(f"{m}\n" for m in HOSTONLY_DRIVERS),
        "etc/systemd/system/vmshift-lab-boot.service": BOOT_MARKER_UNIT,
    }
    for path, text in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text)
    (tree / "srv").mkdir(exist_ok=True)
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "vmshift-lab-boot.service").symlink_to("/etc/systemd/system/vmshift-lab-boot.service")
    conf = tree / "etc/initramfs-tools/initramfs.conf"
    conf.write_text(conf.read_text().replace("MODULES=most", "MODULES=list"))
    install_grub_modules(tree, "/boot/grub")
    # The initramfs a VMware install has: built by the guest's own initramfs-tools, without Hyper-V drivers.
    subprocess.run(["chroot", str(tree), "depmod", kver], check=True, capture_output=True)
    run(["chroot", str(tree), "update-initramfs", "-u", "-k", kver], "update-initramfs in the Debian 12 tree")
    assemble(image, DISK_MIB * MIB, tree, HOSTNAME, ROOT_UUID, DATA_UUID, "/boot/grub", work)
    shutil.rmtree(tree)
