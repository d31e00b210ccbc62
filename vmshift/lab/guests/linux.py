"""Linux lab guests that look, to libguestfs and to the preparation rules, like a VMware-installed RHEL and
Ubuntu, and that really boot: Debian's kernel (linux-image-amd64), a busybox userland, an initramfs that mounts
root by UUID, and the guest's own GRUB. Their tools for the initramfs (dracut, update-initramfs) are small lab
scripts that run inside the guest as the real ones would, so that the preparation's rebuild runs there."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vmshift.lab.guests.disk_image import (
    LINUX,
    MIB,
    ImageBuildFailed,
    Partition,
    create_image,
    grub_modules,
    install_grub_bios,
    make_ext4,
)

SCRIPTS = Path(__file__).with_name("scripts")
BUSYBOX = Path("/bin/busybox")
# What a VMware-installed guest's host-only initramfs holds: its PVSCSI disk, ext4 and its checksum; virtio stands
# for the bus of the lab's boot check (QEMU), whose disk the guest must find to boot there at all.
HOSTONLY_DRIVERS = ("vmw_pvscsi", "sd_mod", "crc32c_generic", "ext4", "virtio_pci", "virtio_blk")
# Modules the guest's kernel ships besides those: the Hyper-V drivers the rules add to the initramfs.
HYPERV_DRIVERS = ("hv_vmbus", "hv_storvsc", "hv_netvsc")


@dataclass(frozen=True)
class LinuxGuest:
    """A lab Linux guest: its disk size, partitions' UUIDs and the files that make it one distribution or another."""

    name: str
    hostname: str
    disk_mib: int
    root_uuid: str
    data_uuid: str
    data_mountpoint: str
    grub_prefix: str
    files: dict[str, str]
    links: dict[str, str]
    initramfs_tool: str  # the guest's own command that builds its initramfs at image build time


def host_kernel() -> tuple[str, Path]:
    """The version and image of the kernel linux-image-amd64 installed on this machine, which the guests carry."""
    images = sorted(Path("/boot").glob("vmlinuz-*"))
    if not images:
        raise ImageBuildFailed("no kernel under /boot: install linux-image-amd64 (make setup does it)")
    image = images[-1]
    return image.name.removeprefix("vmlinuz-"), image


def _module_closure(kver: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """modules.dep lines (path -> dependencies) of the named modules and everything they need."""
    lines = {}
    for line in (Path("/lib/modules") / kver / "modules.dep").read_text().splitlines():
        path, _, deps = line.partition(":")
        lines[path] = deps.split()
    by_name = {Path(p).name.removesuffix(".ko"): p for p in lines}
    wanted: dict[str, list[str]] = {}
    todo = [by_name[n] for n in names]
    while todo:
        path = todo.pop()
        if path not in wanted:
            wanted[path] = lines[path]
            todo.extend(lines[path])
    return wanted


def _busybox_userland(tree: Path) -> None:
    shutil.copy2(BUSYBOX, tree / "bin" / "busybox")
    listing = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    for applet in listing.split():
        link = tree / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(tree / "bin" / "busybox", link.parent))


def build_tree(guest: LinuxGuest, tree: Path) -> str:
    """The guest's root filesystem as a directory; returns the kernel version it carries."""
    kver, kernel = host_kernel()
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/lib/vmshift-lab", "etc", "proc", "sys", "dev", "tmp",
                   "root", "var/log", "boot", guest.data_mountpoint.lstrip("/")):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    _busybox_userland(tree)
    shutil.copy2(kernel, tree / "boot" / kernel.name)
    modules = _module_closure(kver, HOSTONLY_DRIVERS + HYPERV_DRIVERS)
    for path in modules:
        target = tree / "lib/modules" / kver / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path("/lib/modules") / kver / path, target)
    (tree / "lib/modules" / kver / "modules.dep").write_text(
        "".join(f"{path}: {' '.join(deps)}\n" if deps else f"{path}:\n" for path, deps in sorted(modules.items()))
    )
    install_grub_modules(tree, guest.grub_prefix)
    scripts = {"sbin/init": "lab-init", "usr/lib/vmshift-lab/initramfs-init": "initramfs-init",
               "usr/sbin/mkinitramfs-lab": "mkinitramfs-lab"}
    for path, script in scripts.items():
        target = tree / path
        target.unlink(missing_ok=True)
        shutil.copy2(SCRIPTS / script, target)
    values = {"kver": kver, "root_uuid": guest.root_uuid, "data_uuid": guest.data_uuid, "hostname": guest.hostname,
              "hostonly": " ".join(HOSTONLY_DRIVERS), "hostonly_lines": "\n".join(HOSTONLY_DRIVERS)}
    for path, text in guest.files.items():
        target = tree / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("@script:"):
            shutil.copy2(SCRIPTS / text.removeprefix("@script:"), target)
        else:
            target.write_text(text.format(**values))
    for path, destination in guest.links.items():
        link = tree / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(destination)
    subprocess.run(["sh", str(tree / guest.initramfs_tool.lstrip("/"))], check=True,
                   env={**os.environ, "VMSHIFT_LAB_SYSROOT": str(tree)}, capture_output=True)
    return kver


def build_image(guest: LinuxGuest, image: Path, work: Path) -> None:
    """The guest's disk: its root tree and a small data partition, and GRUB in front."""
    build_tree(guest, work / "root")
    assemble(image, guest.disk_mib * MIB, work / "root", guest.hostname, guest.root_uuid, guest.data_uuid,
             guest.grub_prefix, work)


def assemble(image: Path, size: int, root_tree: Path, hostname: str, root_uuid: str, data_uuid: str,
             grub_prefix: str, work: Path) -> None:
    """A Linux disk from a root tree: root and data partitions, each an ext4 made from its tree, GRUB in front."""
    data_tree = work / "data"
    data_tree.mkdir(parents=True, exist_ok=True)
    (data_tree / "README").write_text(f"{hostname}: application data, mounted by /etc/fstab\n")
    data_size = 8 * MIB
    root = Partition(MIB, size - data_size - MIB, LINUX, bootable=True)
    data = Partition(root.end, data_size, LINUX)
    create_image(image, size, [root, data], disk_id=int(root_uuid[:8], 16))
    make_ext4(image, root, root_tree, root_uuid, "root")
    make_ext4(image, data, data_tree, data_uuid, "data")
    install_grub_bios(image, root, root_uuid, grub_prefix, work)


def install_grub_modules(tree: Path, grub_prefix: str) -> None:
    grub_dir = tree / grub_prefix.lstrip("/") / "i386-pc"
    grub_dir.mkdir(parents=True, exist_ok=True)
    for module in grub_modules():
        shutil.copy2(module, grub_dir / module.name)


GRUB_CFG = """set default=0
set timeout=1
menuentry '{title}' {{{{
    search --no-floppy --fs-uuid --set=root {{root_uuid}}
    linux /boot/vmlinuz-{{kver}} root=UUID={{root_uuid}} ro {cmdline}
    initrd /boot/{initrd}-{{kver}}{initrd_suffix}
}}}}
"""

RHEL_LIKE = LinuxGuest(
    name="rhel-like",
    hostname="web-rhel-lab",
    disk_mib=64,
    root_uuid="6a1c2f8e-3b7d-4c59-9e21-0d5f7a8b9c01",
    data_uuid="6a1c2f8e-3b7d-4c59-9e21-0d5f7a8b9c02",
    data_mountpoint="/data",
    grub_prefix="/boot/grub2",
    initramfs_tool="/usr/sbin/dracut",
    files={
        "/etc/redhat-release": "Red Hat Enterprise Linux release 8.6 (Ootpa)\n",
        "/etc/os-release": 'NAME="Red Hat Enterprise Linux"\nVERSION="8.6 (Ootpa)"\nID="rhel"\nID_LIKE="fedora"\n'
                           'VERSION_ID="8.6"\nPRETTY_NAME="Red Hat Enterprise Linux 8.6 (Ootpa)"\n',
        "/etc/hostname": "{hostname}\n",
        "/etc/fstab": "# Created by anaconda\n/dev/sda1  /      ext4  defaults  1 1\n"
                      "/dev/sda2  /data  ext4  defaults  1 2\n",
        "/etc/default/grub": 'GRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release)"\n'
                             'GRUB_DEFAULT=saved\nGRUB_TERMINAL_OUTPUT="console"\n'
                             'GRUB_CMDLINE_LINUX="crashkernel=auto rhgb quiet"\n',
        "/boot/grub2/grub.cfg": GRUB_CFG.format(
            title="Red Hat Enterprise Linux (8.6)", cmdline="crashkernel=auto rhgb quiet",
            initrd="initramfs", initrd_suffix=".img"),
        "/etc/dracut.conf": "# dracut configuration; see dracut.conf(5)\n",
        "/etc/dracut.conf.d/README": "Files *.conf here add to /etc/dracut.conf.\n",
        "/etc/vmshift-lab/hostonly-drivers": "{hostonly}\n",
        "/usr/sbin/dracut": "@script:dracut",
        "/usr/bin/lsinitrd": "@script:lsinitramfs",
        "/etc/sysconfig/network": "NETWORKING=yes\nHOSTNAME={hostname}\n",
        "/etc/sysconfig/network-scripts/ifcfg-ens192":
            'TYPE=Ethernet\nBOOTPROTO=none\nNAME=ens192\nDEVICE=ens192\nONBOOT=yes\nHWADDR=00:50:56:9a:12:21\n'
            'IPADDR=10.0.12.21\nPREFIX=24\nGATEWAY=10.0.12.1\nDNS1=10.0.0.10\n',
        "/etc/udev/rules.d/70-persistent-net.rules":
            '# This file was automatically generated by the /lib/udev/write_net_rules\n'
            'SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{{address}}=="00:50:56:9a:12:21", '
            'ATTR{{type}}=="1", KERNEL=="eth*", NAME="ens192"\n',
        "/usr/bin/vmtoolsd": "#!/bin/sh\n# open-vm-tools' daemon (lab stand-in)\n",
        "/usr/lib/systemd/system/vmtoolsd.service":
            "[Unit]\nDescription=Service for virtual machines hosted on VMware\n\n[Service]\n"
            "ExecStart=/usr/bin/vmtoolsd\n\n[Install]\nWantedBy=multi-user.target\n",
    },
    links={"/etc/systemd/system/multi-user.target.wants/vmtoolsd.service":
           "/usr/lib/systemd/system/vmtoolsd.service"},
)

UBUNTU_LIKE = LinuxGuest(
    name="ubuntu-like",
    hostname="app-ubuntu-lab",
    disk_mib=64,
    root_uuid="7b2d3a9f-4c8e-4d6a-8f32-1e6a8b9cad01",
    data_uuid="7b2d3a9f-4c8e-4d6a-8f32-1e6a8b9cad02",
    data_mountpoint="/srv",
    grub_prefix="/boot/grub",
    initramfs_tool="/usr/sbin/update-initramfs",
    files={
        "/etc/lsb-release": 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n'
                            'DISTRIB_DESCRIPTION="Ubuntu 22.04.4 LTS"\n',
        "/etc/os-release": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
                           'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n',
        "/etc/debian_version": "bookworm/sid\n",
        "/etc/hostname": "{hostname}\n",
        "/etc/fstab": "# /etc/fstab: static file system information.\n"
                      "UUID={root_uuid}  /     ext4  errors=remount-ro  0 1\n"
                      "/dev/sda2  /srv  ext4  defaults  0 2\n",
        "/etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null`\n'
                             'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX=""\n',
        "/boot/grub/grub.cfg": GRUB_CFG.format(
            title="Ubuntu", cmdline="quiet splash", initrd="initrd.img", initrd_suffix=""),
        "/etc/initramfs-tools/initramfs.conf": "MODULES=list\nCOMPRESS=gzip\n",
        "/etc/initramfs-tools/modules": "# List of modules to include in the initramfs (MODULES=list)\n"
                                        "{hostonly_lines}\n",
        "/usr/sbin/update-initramfs": "@script:update-initramfs",
        "/usr/bin/lsinitramfs": "@script:lsinitramfs",
        "/etc/netplan/00-installer-config.yaml":
            "network:\n  version: 2\n  ethernets:\n    ens192:\n      match:\n        macaddress: 00:50:56:9a:33:01\n"
            "      set-name: ens192\n      addresses: [10.0.12.31/24]\n      routes:\n        - to: default\n"
            "          via: 10.0.12.1\n      nameservers:\n        addresses: [10.0.0.10]\n",
        "/usr/bin/vmtoolsd": "#!/bin/sh\n# open-vm-tools' daemon (lab stand-in)\n",
        "/lib/systemd/system/open-vm-tools.service":
            "[Unit]\nDescription=Service for virtual machines hosted on VMware\n\n[Service]\n"
            "ExecStart=/usr/bin/vmtoolsd\n\n[Install]\nWantedBy=multi-user.target\n",
        "/usr/bin/cloud-init": "#!/bin/sh\n# cloud-init (lab stand-in)\n",
        "/etc/cloud/cloud.cfg": "datasource_list: [ Azure, None ]\n",
        "/etc/cloud/cloud-init.disabled": "Disabled by the VMware installation: no datasource on vSphere.\n",
        "/usr/sbin/waagent": "#!/bin/sh\n# Azure Linux agent (lab stand-in)\n",
        "/lib/systemd/system/walinuxagent.service":
            "[Unit]\nDescription=Azure Linux Agent\n\n[Service]\nExecStart=/usr/sbin/waagent -daemon\n\n"
            "[Install]\nWantedBy=multi-user.target\n",
    },
    links={"/etc/systemd/system/multi-user.target.wants/open-vm-tools.service":
           "/lib/systemd/system/open-vm-tools.service"},
)
