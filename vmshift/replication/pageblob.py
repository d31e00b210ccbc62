"""The replica: one page blob per disk, a fixed VHD, written only through page writes Azure accepts."""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import uuid

import anycrc
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

from vmshift.replication.extents import MAX_PAGE_WRITE, SECTOR, DiskExtent, check_disk_size, clip
from vmshift.replication.vhd import FOOTER_SIZE, NotAFixedVhd, blob_size, build_footer, data_size, parse_footer

log = logging.getLogger(__name__)

OWNER_KEY = "vmshift_owner"
# Put Page with x-ms-content-crc64: the storage computes the CRC-64 of the bytes it received and refuses the write
# (400) when it differs, so nothing changed on the way is stored. The bytes in memory are sent again, a few times.
TRANSIT_MISMATCH = frozenset({"Crc64Mismatch", "Md5Mismatch"})
TRANSIT_ATTEMPTS = 3
# Azure Storage's CRC-64 is CRC-64/NVME. The SDK's own (validate_content="crc64") computes it at ~1 GiB/s, a second
# of client CPU per GiB sent; anycrc's at ~11 GiB/s (bench/replication.py, measured beside each other).
_CRC64 = anycrc.Model("CRC64-NVME")


def transactional_crc64(data: bytes) -> bytes:
    """The x-ms-content-crc64 of a page write, as the SDK would send it (8 bytes, little-endian)."""
    return _CRC64.calc(data).to_bytes(8, "little")


class BlobNotOurs(RuntimeError):
    """A blob at the replica's name that vmshift did not create for this disk: left untouched."""


class InvalidPageWrite(ValueError):
    """A page write Azure would refuse (Azurite accepts some of them, so we check ourselves)."""


class TransitCorruption(RuntimeError):
    """Every attempt of a page write reached the storage with other bytes than were sent."""


class DiskShrunk(RuntimeError):
    """The source disk is now smaller than its replica; vSphere cannot shrink a disk, so something is off."""


def _check_page_range(offset: int, length: int, limit: int | None) -> None:
    if offset % SECTOR or length % SECTOR or length <= 0:
        raise InvalidPageWrite(f"page range {offset}+{length} is not 512-byte aligned")
    if limit is not None and length > limit:
        raise InvalidPageWrite(f"page write of {length} bytes exceeds Azure's {limit} byte limit")


def put_page(blob: BlobClient, offset: int, data: bytes, what: str) -> None:
    """One Put Page with its transactional CRC-64 (the storage refuses bytes that differ from it), sent again while
    the storage says the bytes it received do not match."""
    _check_page_range(offset, len(data), MAX_PAGE_WRITE)
    for attempt in range(1, TRANSIT_ATTEMPTS + 1):
        try:
            blob.upload_page(data, offset=offset, length=len(data),
                             transactional_content_crc64=transactional_crc64(data))
            return
        except HttpResponseError as error:
            if error.error_code not in TRANSIT_MISMATCH:
                raise
            log.warning("%s: the page write at byte %d reached the storage changed (%s, attempt %d of %d); "
                        "sending it again", what, offset, error.error_code, attempt, TRANSIT_ATTEMPTS)
    raise TransitCorruption(
        # The URL without its query: a disk's upload URL carries its write SAS.
        f"{what}: the page write of {len(data)} bytes at byte {offset} reached {blob.url.split('?')[0]} with other "
        f"bytes than were sent, {TRANSIT_ATTEMPTS} times (the storage refused each: checksum mismatch); nothing "
        "wrong was stored. Look at the network path to the storage (proxy, NIC offload), then run the step that "
        "failed (the cycle, or the cutover) again"
    )


def properties_if_ours(blob: BlobClient, owner: str, what: str) -> BlobProperties | None:
    """The blob's properties, refusing a blob that another tool or another disk put at its name; None if gone."""
    try:
        properties = blob.get_blob_properties()
    except ResourceNotFoundError:
        return None
    metadata = properties.metadata or {}
    if metadata.get(OWNER_KEY) != owner:
        raise BlobNotOurs(
            f"blob {blob.url} exists and is not the {what} of {owner} "
            f"(metadata {OWNER_KEY}={metadata.get(OWNER_KEY)!r}); move or delete it, vmshift will not overwrite it"
        )
    return properties


def has_snapshot(container: ContainerClient, name: str, snapshot_id: str) -> bool:
    try:
        container.get_blob_client(name, snapshot=snapshot_id).get_blob_properties()
    except ResourceNotFoundError:
        return False
    return True


def delete_snapshot(container: ContainerClient, name: str, snapshot_id: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):
        container.get_blob_client(name, snapshot=snapshot_id).delete_blob()


class PageBlobReplica:
    """A disk's replica page blob; `owner` (e.g. "vm/disk-2000") marks it as ours in its metadata."""

    def __init__(self, container: ContainerClient, name: str, owner: str) -> None:
        self.container = container
        self.name = name
        self.blob = container.get_blob_client(name)
        self.owner = owner

    @property
    def url(self) -> str:
        return self.blob.url

    def ensure(self, capacity_bytes: int) -> bool:
        """Create the blob for a disk of this capacity, or adopt ours; True when it holds nothing yet.

        The footer is written before any data, so a blob of ours without one is one a killed run created
        and never wrote: it is finished here and counts as new.
        """
        check_disk_size(capacity_bytes, f"disk {self.owner}")
        try:
            self.blob.create_page_blob(blob_size(capacity_bytes), metadata={OWNER_KEY: self.owner}, if_none_match="*")
        except ResourceExistsError:
            size = self._size_if_ours()
            if size is not None and any(self.read(size - FOOTER_SIZE, FOOTER_SIZE)):
                return False
        self.write_footer(capacity_bytes)
        return True

    def identity(self) -> str:
        """Which blob this is, beyond its name: the VHD footer's unique id (vmshift writes a new one into each
        blob it creates, and keeps it across resizes) and the blob's creation time."""
        properties = self.blob.get_blob_properties()
        footer = parse_footer(self.read(properties.size - FOOTER_SIZE, FOOTER_SIZE))
        return f"{footer.unique_id}@{properties.creation_time.isoformat()}"

    def start_over(self, capacity_bytes: int) -> None:
        """Empty the blob (truncated, then grown back: every page reads as zeros) and give it a new unique id, for
        a blob whose content is unknown; its snapshots (recovery points) are kept."""
        check_disk_size(capacity_bytes, f"disk {self.owner}")
        self.blob.resize_blob(0)
        self.blob.resize_blob(blob_size(capacity_bytes))
        size = data_size(capacity_bytes)
        self.upload_page(size, build_footer(size))

    def _size_if_ours(self) -> int | None:
        """The blob's size, refusing a blob that another tool or another disk put at this name; None if gone."""
        properties = properties_if_ours(self.blob, self.owner, "replica")
        return properties.size if properties is not None else None

    def data_size(self) -> int:
        """Bytes of disk data the blob holds (its size less the footer)."""
        return self.blob.get_blob_properties().size - FOOTER_SIZE

    def upload_page(self, offset: int, data: bytes) -> None:
        put_page(self.blob, offset, data, f"replica of {self.owner}")

    def clear_page(self, offset: int, length: int) -> None:
        _check_page_range(offset, length, None)
        self.blob.clear_page(offset=offset, length=length)

    def write_footer(self, capacity_bytes: int) -> None:
        """Write the VHD footer after the data region, keeping the blob's unique id across resizes."""
        size = data_size(capacity_bytes)
        self.upload_page(size, build_footer(size, self._unique_id(size)))

    def _unique_id(self, data_bytes: int) -> uuid.UUID | None:
        footer = self.read(data_bytes, FOOTER_SIZE)
        return parse_footer(footer).unique_id if any(footer) else None

    def resize(self, capacity_bytes: int) -> None:
        """Grow the blob for a grown disk: the old footer becomes data (cleared), a new footer goes at the end."""
        check_disk_size(capacity_bytes, f"disk {self.owner}")
        old_size = self.data_size()
        new_size = data_size(capacity_bytes)
        if new_size < old_size:
            raise DiskShrunk(f"disk {self.owner} is now {new_size} bytes, its replica holds {old_size}")
        if new_size == old_size:
            return
        unique_id = self._unique_id(old_size)
        self.blob.resize_blob(blob_size(capacity_bytes))
        self.clear_page(old_size, FOOTER_SIZE)
        self.upload_page(new_size, build_footer(new_size, unique_id))

    def read(self, offset: int, length: int) -> bytes:
        return self.blob.download_blob(offset=offset, length=length).readall()

    def snapshot(self, metadata: dict[str, str]) -> str:
        """A blob snapshot (a recovery point); returns its snapshot id."""
        return self.blob.create_snapshot(metadata=metadata)["snapshot"]

    def has_snapshot(self, snapshot_id: str) -> bool:
        return has_snapshot(self.container, self.name, snapshot_id)

    def delete_snapshot(self, snapshot_id: str) -> None:
        delete_snapshot(self.container, self.name, snapshot_id)

    def reader(self, snapshot_id: str | None = None, *, only_written: bool = False) -> BlobDiskReader:
        """The replica (or a recovery point of it) as a readable disk.

        With `only_written`, a range in which the blob holds no page reads as zeros without a request (Get Page
        Ranges once, first): a resync then downloads only what the replica holds, since every byte downloaded
        from Azure is egress.
        """
        blob = self.container.get_blob_client(self.name, snapshot=snapshot_id)
        if not only_written:
            return BlobDiskReader(blob)
        pages = blob.list_page_ranges()
        return BlobDiskReader(blob, [DiskExtent(page["start"], page["end"] + 1 - page["start"]) for page in pages])


class BlobDiskReader:
    """Reads a replica's data region (or one of its snapshots) as a disk, for verification."""

    def __init__(self, blob: BlobClient, written: list[DiskExtent] | None = None) -> None:
        self.blob = blob
        self.size = blob.get_blob_properties().size - FOOTER_SIZE
        self.bytes_downloaded = 0
        self._lock = threading.Lock()
        self.written = sorted(written) if written is not None else None  # the blob's page ranges, when listed
        self._starts = [extent.offset for extent in self.written or []]

    def read(self, offset: int, length: int) -> bytes:
        if self.written is None:
            return self._download(offset, length)
        inside = self._pages_in(offset, length)
        if len(inside) == 1 and inside[0] == DiskExtent(offset, length):
            return self._download(offset, length)
        data = bytearray(length)
        for extent in inside:
            data[extent.offset - offset : extent.end - offset] = self._download(extent.offset, extent.length)
        return bytes(data)

    def _download(self, offset: int, length: int) -> bytes:
        data = self.blob.download_blob(offset=offset, length=length).readall()
        with self._lock:
            self.bytes_downloaded += len(data)
        return data

    def _pages_in(self, offset: int, length: int) -> list[DiskExtent]:
        """The parts of [offset, offset + length) in which the blob holds pages."""
        assert self.written is not None
        # Page ranges do not overlap: the first that may reach into the range starts before its start.
        first = max(bisect.bisect_right(self._starts, offset) - 1, 0)
        last = bisect.bisect_left(self._starts, offset + length)
        return clip(self.written[first:last], offset, offset + length)

    def footer_problem(self) -> str | None:
        """Why Azure would refuse to import this blob as a disk, or None: equal data is not enough."""
        try:
            footer = parse_footer(self.read(self.size, FOOTER_SIZE))
        except NotAFixedVhd as e:
            return str(e)
        if footer.current_size != self.size:
            return f"the VHD footer says {footer.current_size} bytes of data, the blob holds {self.size}"
        return None
