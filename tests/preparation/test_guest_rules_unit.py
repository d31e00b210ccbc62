"""Rules on a stand-in libguestfs handle: a tool of the guest that fails makes a RuleFailed naming the VM and the
rule; a hive made from vmshift's seed opens in hivex and holds what was put in."""

from __future__ import annotations

from pathlib import Path

import hivex
import pytest

from vmshift.lab.guests.hives import build_hive
from vmshift.preparation.changes import GuestOs
from vmshift.preparation.errors import RuleFailed
from vmshift.preparation.guest import Guest
from vmshift.preparation.linux_rules import hyperv_drivers_in_initramfs


class _Handle:
    """Just enough of a guestfs handle for the initramfs rule on a RHEL-like guest whose dracut fails."""

    files = {"/boot/initramfs-6.1.0-57-amd64.img", "/usr/bin/lsinitrd", "/usr/sbin/dracut"}

    def ls(self, path: str) -> list[str]:
        return ["6.1.0-57-amd64"]

    def exists(self, path: str) -> bool:
        return path in self.files

    def is_file(self, path: str, followsymlinks: bool = False) -> bool:
        return False

    def is_symlink(self, path: str) -> bool:
        return False

    def filesize(self, path: str) -> int:
        return 1024

    def checksum(self, kind: str, path: str) -> str:
        return "0" * 64

    def mkdir_p(self, path: str) -> None:
        pass

    def write(self, path: str, data: bytes) -> None:
        self.files.add(path)

    def touch(self, path: str) -> None:
        pass

    def rm(self, path: str) -> None:
        pass

    def command(self, command: list[str]) -> str:
        if command[0].endswith("lsinitrd"):
            return "lib/modules/6.1.0-57-amd64/kernel/drivers/scsi/vmw_pvscsi.ko\n"
        raise RuntimeError("dracut: Cannot find module directory /lib/modules/6.1.0-57-amd64/")


def test_a_guest_tool_that_fails_stops_the_rule_with_its_message_the_vm_and_the_rule() -> None:
    os = GuestOs(type="linux", distro="rhel", family="redhat", product="RHEL 8.6", major=8, minor=6,
                 arch="x86_64", hostname="web")
    guest = Guest(_Handle(), "/dev/sda1", os, "VM web-01, disk web-01/disk-2000")  # type: ignore[arg-type]
    with pytest.raises(RuleFailed, match=r"VM web-01.*hyperv-drivers-in-initramfs.*dracut.*Cannot find module"):
        hyperv_drivers_in_initramfs(guest)


def test_a_hive_from_the_seed_opens_in_hivex_and_holds_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "SYSTEM"
    build_hive(path, "SYSTEM", {"ControlSet001\\Services\\storvsc": {"Start": 3, "ImagePath": "x.sys"},
                                "Select": {"Current": 1}})
    hive = hivex.Hivex(str(path))
    services = hive.node_get_child(hive.node_get_child(hive.root(), "ControlSet001"), "Services")
    storvsc = hive.node_get_child(services, "storvsc")
    assert hive.value_dword(hive.node_get_value(storvsc, "Start")) == 3
    assert hive.value_string(hive.node_get_value(storvsc, "ImagePath")) == "x.sys"
