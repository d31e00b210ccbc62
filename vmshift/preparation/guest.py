"""A guest opened through libguestfs for preparation: inspected, its filesystems mounted read-write (on the view's
overlay, never on the replica), its files read and changed with every change recorded."""

from __future__ import annotations

import posixpath
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vmshift.preparation.changes import ChangeLog, GuestOs
from vmshift.preparation.errors import RuleFailed, UnrecognisedOs

if TYPE_CHECKING:
    import guestfs

# libguestfs's distro names and the rule family that prepares them (dracut + ifcfg, or initramfs-tools).
FAMILIES = {"rhel": "redhat", "centos": "redhat", "oraclelinux": "redhat", "rocky": "redhat",
            "alma": "redhat", "almalinux": "redhat", "fedora": "redhat", "debian": "debian", "ubuntu": "debian"}
_EXECUTABLE_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
# A file a guest tool changed on its own: its content before is the recovery point's.
_AS_BEFORE = "as in the recovery point"


class Guest:
    """The mounted guest, for the rules: `what` names the VM and disk in messages."""

    def __init__(self, handle: guestfs.GuestFS, root: str, os: GuestOs, what: str) -> None:
        self.handle = handle
        self.root = root
        self.os = os
        self.what = what
        self.log = ChangeLog()

    def path(self, path: str) -> str:
        """The path as the guest's filesystem spells it (NTFS is case-insensitive, libguestfs is not)."""
        return self.handle.case_sensitive_path(path) if self.os.family == "windows" else path

    def exists(self, path: str) -> bool:
        return self.handle.exists(self.path(path))

    def is_symlink(self, path: str) -> bool:
        return self.handle.is_symlink(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.handle.glob_expand(pattern))

    def read_text(self, path: str) -> str | None:
        if not self.handle.is_file(path, followsymlinks=True):
            return None
        return self.handle.read_file(path).decode("utf-8", errors="surrogateescape")

    def describe(self, path: str) -> str | None:
        """How a change report shows a file: a symlink's target, a binary file's size and SHA-256."""
        if self.handle.is_symlink(path):
            return f"symlink to {self.handle.readlink(path)}"
        if not self.handle.exists(path):
            return None
        return f"{self.handle.filesize(path)} bytes, sha256 {self.handle.checksum('sha256', path)}"

    def write_text(self, rule: str, path: str, text: str) -> None:
        before = self.read_text(path)
        if before == text:
            return
        self.handle.mkdir_p(posixpath.dirname(path))
        self.handle.write(path, text.encode("utf-8", errors="surrogateescape"))
        self.log.change(rule, path, before, text)

    def remove(self, rule: str, path: str) -> None:
        before = self.read_text(path) if not self.handle.is_symlink(path) else self.describe(path)
        self.handle.rm(path)
        self.log.change(rule, path, before, None)

    def symlink(self, rule: str, path: str, target: str) -> None:
        self.handle.mkdir_p(posixpath.dirname(path))
        self.handle.ln_sf(target, path)
        self.log.change(rule, path, None, f"symlink to {target}")

    def executable(self, name: str) -> str | None:
        for folder in _EXECUTABLE_DIRS:
            candidate = f"{folder}/{name}"
            if self.handle.exists(candidate):
                return candidate
        return None

    def run(self, rule: str, command: list[str]) -> str:
        """A command of the guest's own, run inside it (its root, its binaries); a failure fails the rule."""
        try:
            return self.handle.command(command)
        except RuntimeError as error:
            raise RuleFailed(f"{self.what}: rule {rule}: `{' '.join(command)}` failed in the guest: {error}") from None

    def run_recorded(self, rule: str, command: list[str], described: list[str]) -> None:
        """Run a tool of the guest's that writes files of its own choosing (an initramfs rebuild), recording
        every file it left changed; those in `described` the rule records itself. Found with the guest's own
        find: files newer than a marker touched (a second) before."""
        marker = "/tmp/.vmshift-preparation-marker"
        self.handle.mkdir_p("/tmp")
        self.handle.touch(marker)
        time.sleep(1.1)  # find -newer compares whole seconds
        self.run(rule, command)
        pruned = ["/proc", "/sys", "/dev", "/run", "/tmp"]
        prune = [arg for path in pruned for arg in ("-o", "-path", path)][1:]
        found = self.run(rule, ["find", "/", "(", *prune, ")", "-prune", "-o", "-newer", marker, "(", "-type", "f",
                                "-o", "-type", "l", ")", "-print"])
        self.handle.rm(marker)
        for path in sorted(set(found.split("\n")) - set(described) - {""}):
            self.log.change(rule, path, _AS_BEFORE, self.describe(path))

    def download(self, path: str, target: Path) -> None:
        self.handle.download(self.path(path), str(target))

    def upload(self, source: Path, path: str) -> None:
        self.handle.upload(str(source), self.path(path))


def open_guest(handle: guestfs.GuestFS, what: str) -> Guest:
    """Inspect the launched handle's disk and mount its filesystems; an OS vmshift does not prepare raises
    UnrecognisedOs naming it."""
    roots = handle.inspect_os()
    if len(roots) != 1:
        found = ", ".join(f"{handle.inspect_get_product_name(r)} on {r}" for r in roots) or "none"
        raise UnrecognisedOs(
            f"{what}: inspection found {len(roots)} operating systems ({found}); vmshift prepares a disk that holds "
            "exactly one. Check that the plan's OS disk is the VM's boot disk, or turn preparation off for this VM "
            "and prepare it by hand as Azure documents"
        )
    root = roots[0]
    kind, distro = handle.inspect_get_type(root), handle.inspect_get_distro(root)
    family = "windows" if kind == "windows" else FAMILIES.get(distro) if kind == "linux" else None
    product = handle.inspect_get_product_name(root)
    if family is None:
        raise UnrecognisedOs(
            f"{what}: {product} ({kind}, distribution {distro}) is not an OS vmshift prepares (RHEL-family, "
            "Debian, Ubuntu, Windows); prepare it by hand as Azure documents, then turn preparation off for this VM"
        )
    os = GuestOs(type=kind, distro=distro, family=family, product=product,
                 major=handle.inspect_get_major_version(root), minor=handle.inspect_get_minor_version(root),
                 arch=handle.inspect_get_arch(root), hostname=handle.inspect_get_hostname(root))
    mountpoints = handle.inspect_get_mountpoints(root)
    for mountpoint in sorted(mountpoints, key=len):
        try:
            handle.mount(mountpoints[mountpoint], mountpoint)
        except RuntimeError as error:
            raise UnrecognisedOs(f"{what}: {mountpoints[mountpoint]} ({mountpoint}) does not mount: {error}") from None
    return Guest(handle, root, os, what)

