"""The NBD view of a recovery point: nbdkit serving the blob snapshot (reads by HTTP Range) with an overlay that
takes every write, on a unix socket only the appliance's user can reach. The snapshot is never written."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, generate_blob_sas

from vmshift.preparation.errors import PreparationFailed, ToolMissing
from vmshift.replication.extents import DiskExtent, coalesce
from vmshift.replication.vhd import FOOTER_SIZE

PLUGIN = Path(__file__).with_name("nbd_plugin.py")
BLOCK = 4096
READY_TIMEOUT_S = 30.0
# The read link lasts as long as a slow preparation can (update-initramfs under emulation takes minutes).
_LINK_HOURS = 6


def read_url(blob: BlobClient) -> str:
    """A read-only SAS URL of the blob (snapshot): signed with the account key when the client has one, else
    with a user delegation key (Azure AD)."""
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=_LINK_HOURS)
    permission = BlobSasPermissions(read=True)
    credential = blob.credential
    key = getattr(credential, "account_key", None)
    if key:
        sas = generate_blob_sas(blob.account_name, blob.container_name, blob.blob_name, snapshot=blob.snapshot,
                                account_key=key, permission=permission, expiry=expiry)
    else:
        service = BlobServiceClient(blob.url.split(f"/{blob.container_name}/", 1)[0], credential=credential)
        delegation = service.get_user_delegation_key(dt.datetime.now(dt.UTC), expiry)
        sas = generate_blob_sas(blob.account_name, blob.container_name, blob.blob_name, snapshot=blob.snapshot,
                                user_delegation_key=delegation, permission=permission, expiry=expiry)
    return f"{blob.url}{'&' if '?' in blob.url else '?'}{sas}"


@dataclass
class NbdView:
    socket: Path
    overlay: Path
    size: int
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """Stop nbdkit; the overlay's block list is complete once it has closed the connection."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def written_extents(self) -> list[DiskExtent]:
        """The disk ranges the guest's changes wrote, as whole 4 KiB blocks, coalesced."""
        blocks_file = Path(f"{self.overlay}.blocks")
        bitmap = blocks_file.read_bytes() if blocks_file.exists() else b""
        extents = []
        # A 1 TiB disk has a 32 MiB bitmap, almost all zeros: only the non-zero bytes are looked at bit by bit.
        index = _next_set_byte(bitmap, 0)
        while index < len(bitmap):
            for bit in range(8):
                if bitmap[index] & (1 << bit):
                    offset = (index * 8 + bit) * BLOCK
                    extents.append(DiskExtent(offset, min(BLOCK, self.size - offset)))
            index = _next_set_byte(bitmap, index + 1)
        return coalesce(extents)

    def read(self, offset: int, length: int) -> bytes:
        """The overlay's bytes (valid inside written extents)."""
        with open(self.overlay, "rb") as overlay:
            overlay.seek(offset)
            return overlay.read(length)


def _next_set_byte(bitmap: bytes, start: int) -> int:
    """The index of the first non-zero byte at or after start (len(bitmap) if none)."""
    rest = bitmap[start:].lstrip(b"\0")
    return len(bitmap) - len(rest)


@contextmanager
def open_view(snapshot: BlobClient, work: Path, ca_file: str | None = None) -> Iterator[NbdView]:
    """nbdkit serving the snapshot's data region (the VHD less its footer) with an overlay in `work`."""
    nbdkit = shutil.which("nbdkit")
    if nbdkit is None:
        raise ToolMissing("nbdkit is not installed on the appliance: install nbdkit and nbdkit-plugin-python")
    size = snapshot.get_blob_properties().size - FOOTER_SIZE
    url_file = work / "source.url"
    url_file.touch(mode=0o600)
    url_file.write_text(read_url(snapshot))
    socket, overlay, log = work / "nbd.sock", work / "overlay", work / "nbdkit.log"
    command = [nbdkit, "--foreground", "--exit-with-parent", "--unix", str(socket), "python", str(PLUGIN),
               f"url_file={url_file}", f"size={size}", f"overlay={overlay}"]
    if ca_file:
        command.append(f"ca_file={ca_file}")
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    view = NbdView(socket, overlay, size, process, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise PreparationFailed(f"nbdkit did not serve {snapshot.url.split('?')[0]}: "
                                        + log.read_text(errors="replace")[-2000:])
            time.sleep(0.05)
        yield view
    finally:
        view.stop()
        url_file.unlink(missing_ok=True)
