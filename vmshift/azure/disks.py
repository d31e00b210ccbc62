"""Managed disks imported from a recovery point's blob snapshots or staged (uploaded) before the outage, their frozen
copies (managed-disk snapshots taken before the VM starts), and reading either back for verification."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute.models import Disk
from azure.storage.blob import BlobClient

from vmshift.azure.built import ROLLBACK_WITH_DISKS, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import DiskFromOtherRecoveryPoint
from vmshift.azure.tags import PURPOSE_TAG, SOURCE_VM_TAG
from vmshift.replication.extents import MIB, DiskExtent, clip
from vmshift.replication.mover import is_zero
from vmshift.replication.pageblob import put_page
from vmshift.replication.vhd import FOOTER_SIZE

log = logging.getLogger(__name__)

PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
CUSTOMER_KEY = "EncryptionAtRestWithCustomerKey"
PLATFORM_AND_CUSTOMER_KEYS = "EncryptionAtRestWithPlatformAndCustomerKeys"
# A read SAS lasts this long; verification of tens of GiB through one link must fit in it.
_ACCESS_SECONDS = 4 * 3600
# An upload SAS lasts from staging, through the shutdown (up to its timeout) and the final delta, to the seal.
_UPLOAD_SECONDS = 12 * 3600
UPLOAD_MIN_BYTES = 20 * MIB + FOOTER_SIZE  # Azure's smallest uploadSizeBytes: smaller disks are imported


@dataclass(frozen=True)
class DiskImport:
    """One managed disk to import: the recovery point's blob snapshot and how the disk is to be."""

    name: str
    source_uri: str  # the page blob's URL with ?snapshot=<recovery point's snapshot id>
    sku: str
    os_type: str | None = None  # "Windows"/"Linux" on the OS disk only
    hyper_v_generation: str | None = None  # "V1"/"V2" on the OS disk only
    encryption_type: str = PLATFORM_KEY
    disk_encryption_set_id: str | None = None
    zone: str | None = None


def snapshot_uri(blob_url: str, snapshot_id: str) -> str:
    """The URL Import reads a blob snapshot from."""
    return f"{blob_url}?snapshot={snapshot_id}"


def import_disk(
    clients: AzureClients,
    disk: DiskImport,
    *,
    resource_group: str,
    location: str,
    storage_account_id: str,
    tags: dict[str, str],
) -> Disk:
    """The managed disk, imported once: the disk of that name imported from the same snapshot is reused.

    A disk of that name from another recovery point holds stale bytes. It is replaced (deleted, then imported
    from this recovery point) when it is the leftover of an earlier attempt of this step: no VM holds it, and
    vmshift's tags name the same source VM and purpose (migration or test migration). The run tag is not
    compared: each retry is a run of its own. Any other such disk (attached to a VM, or not this step's) is
    refused rather than touched.
    """
    try:
        existing = clients.compute.disks.get(resource_group, disk.name)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        if existing.properties.creation_data.source_uri == disk.source_uri:
            return existing
        _check_leftover(existing, disk, resource_group, tags)
        log.info("managed disk %s was imported from %s: importing it again from %s", disk.name,
                 existing.properties.creation_data.source_uri, disk.source_uri)
        delete_disk(clients, resource_group, disk.name, existing)
    creation = {"createOption": "Import", "storageAccountId": storage_account_id, "sourceUri": disk.source_uri}
    return clients.compute.disks.begin_create_or_update(resource_group, disk.name,
                                                         _disk_body(disk, creation, location, tags)).result()


def _disk_body(disk: DiskImport, creation: dict, location: str, tags: dict[str, str]) -> dict:
    """The disk's wire body: the import's settings (SKU, OS, generation, encryption, zone), made as `creation` says."""
    encryption: dict[str, str] = {"type": disk.encryption_type}
    if disk.disk_encryption_set_id:
        encryption["diskEncryptionSetId"] = disk.disk_encryption_set_id
    properties: dict = {"creationData": creation, "encryption": encryption}
    if disk.os_type:
        properties["osType"] = disk.os_type
    if disk.hyper_v_generation:
        properties["hyperVGeneration"] = disk.hyper_v_generation
    body: dict = {"location": location, "tags": tags, "sku": {"name": disk.sku}, "properties": properties}
    if disk.zone:
        body["zones"] = [disk.zone]
    return body


def _check_leftover(existing: Disk, disk: DiskImport, resource_group: str, tags: dict[str, str]) -> None:
    """Refuses a disk of the target name that an earlier attempt of this step did not leave behind."""
    stale = (
        f"managed disk {disk.name} in {resource_group} was imported from "
        f"{existing.properties.creation_data.source_uri}, not from {disk.source_uri}"
    )
    if existing.managed_by:
        raise DiskFromOtherRecoveryPoint(
            f"{stale}, and VM {existing.managed_by} uses it: roll that VM back with its disks deleted (or delete "
            "it and its disks) to build from this recovery point"
        )
    found = existing.tags or {}
    if any(found.get(tag) != tags.get(tag) for tag in (SOURCE_VM_TAG, PURPOSE_TAG)):
        raise DiskFromOtherRecoveryPoint(
            f"{stale}, and its tags ({SOURCE_VM_TAG}={found.get(SOURCE_VM_TAG)}, {PURPOSE_TAG}="
            f"{found.get(PURPOSE_TAG)}) do not make it the {tags.get(PURPOSE_TAG)} disk of "
            f"{tags.get(SOURCE_VM_TAG)}: vmshift leaves it alone; delete it, or choose another target VM name"
        )


def delete_disk(clients: AzureClients, resource_group: str, name: str, disk: Disk | None = None) -> None:
    """Deletes the managed disk, first ending a read link a killed verification left open: Azure refuses
    (409 OperationNotAllowed) to delete a disk in state ActiveSAS until its access is revoked.

    `disk`: the disk as the caller just read it, so that it is not read again."""
    disk = disk or clients.compute.disks.get(resource_group, name)
    if disk.properties.disk_state == "ActiveSAS":
        clients.compute.disks.begin_revoke_access(resource_group, name).result()
    clients.compute.disks.begin_delete(resource_group, name).result()


def frozen_copy_name(disk_name: str) -> str:
    """The managed-disk snapshot that keeps a disk as it was imported, for the verification after the VM starts."""
    return f"{disk_name}-frozen"


def freeze_disk(clients: AzureClients, resource_group: str, disk: Disk, tags: dict[str, str]) -> str:
    """A snapshot of the imported disk, taken before a VM holds it: what the verification reads once the VM runs
    and writes to the disk. A snapshot of that name taken from this disk since it was imported is kept (a rerun);
    one of an older disk of that name is replaced. Incremental: Azure copies no data to take it, so the outage
    does not grow with the disk. Returns its name."""
    name = frozen_copy_name(disk.name)
    snapshots = clients.compute.snapshots
    try:
        existing = snapshots.get(resource_group, name)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        source = existing.properties.creation_data.source_resource_id or ""
        if source.lower() == disk.id.lower() and existing.properties.time_created >= disk.properties.time_created:
            return name
        delete_frozen_copy(clients, resource_group, name)
    body = {"location": disk.location, "tags": tags, "sku": {"name": "Standard_LRS"},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
                           "incremental": True}}
    snapshots.begin_create_or_update(resource_group, name, body).result()
    return name


def delete_frozen_copy(clients: AzureClients, resource_group: str, name: str) -> None:
    """Deletes a frozen copy (a read link a killed verification left open is revoked first); gone already is fine."""
    try:
        clients.compute.snapshots.begin_revoke_access(resource_group, name).result()
    except ResourceNotFoundError:
        return
    clients.compute.snapshots.begin_delete(resource_group, name).result()


class ManagedDiskReader:
    """Reads a managed disk's (or a managed-disk snapshot's) bytes through a grantAccess read link (a DiskReader,
    for verification).

    The link serves the disk as a fixed VHD; `size` is the disk's size, the data before the VHD footer.
    """

    def __init__(self, clients: AzureClients, resource_group: str, name: str, *, snapshot: bool = False) -> None:
        self._operations = clients.compute.snapshots if snapshot else clients.compute.disks
        self._resource_group = resource_group
        self._name = name
        access = self._operations.begin_grant_access(
            resource_group, name, {"access": "Read", "durationInSeconds": _ACCESS_SECONDS}
        ).result()
        self._url = access.access_sas
        self._http = requests.Session()
        # Per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE in requests' settings merge.
        self._verify = clients.config.ca_file or True
        self.size = self._operations.get(resource_group, name).properties.disk_size_bytes

    def read(self, offset: int, length: int) -> bytes:
        response = self._http.get(
            self._url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, verify=self._verify, timeout=300
        )
        response.raise_for_status()
        return response.content

    def page_ranges(self) -> list[DiskExtent]:
        """The ranges of the disk's data the link holds pages for (Get Page Ranges): elsewhere it reads as zeros,
        so a check need not read it. The VHD footer after the data is left out."""
        link = BlobClient.from_blob_url(self._url, connection_verify=self._verify)
        pages = [DiskExtent(page.start, page.end + 1 - page.start) for page in link.list_page_ranges()]
        return clip(pages, 0, self.size)

    def close(self) -> None:
        """Ends the read access: a disk with an open link cannot be attached or deleted."""
        self._http.close()
        self._operations.begin_revoke_access(self._resource_group, self._name).result()

    def __enter__(self) -> ManagedDiskReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def can_stage(capacity_bytes: int) -> bool:
    """Whether Azure takes the disk as an upload (createOption Upload): whole MiB, at least 20 MiB."""
    return capacity_bytes % MIB == 0 and capacity_bytes + FOOTER_SIZE >= UPLOAD_MIN_BYTES


class StagedDisk:
    """A managed disk made for upload and open for writing (ActiveUpload) through its upload SAS: filled from a
    recovery point before the outage, then with what the final delta changed, then sealed (access revoked), when it
    is the disk the VM starts from. Every page write carries its CRC-64, which the storage checks; a write the
    storage refuses as changed on the way is sent again, as the replica's are."""

    def __init__(self, clients: AzureClients, resource_group: str, name: str, upload_url: str) -> None:
        self._clients = clients
        self.resource_group = resource_group
        self.name = name
        self._blob = BlobClient.from_blob_url(upload_url, connection_verify=clients.config.ca_file or True)

    def write(self, offset: int, data: bytes) -> None:
        """Pages at `offset` (512-aligned, at most 4 MiB); all-zero pages are cleared, not sent."""
        if not is_zero(data):
            put_page(self._blob, offset, data, f"managed disk {self.name}")
        else:
            self.clear(offset, len(data))

    def clear(self, offset: int, length: int) -> None:
        """Pages at `offset` cleared: they read as zeros, and the disk holds them no more (Get Page Ranges)."""
        self._blob.clear_page(offset=offset, length=length)

    def seal(self) -> Disk:
        """Ends the upload (the disk becomes Unattached, ready for a VM); the VHD footer must have been written."""
        self._clients.compute.disks.begin_revoke_access(self.resource_group, self.name).result()
        return self._clients.compute.disks.get(self.resource_group, self.name)


def stage_disk(
    clients: AzureClients, disk: DiskImport, capacity_bytes: int, *, resource_group: str, location: str,
    tags: dict[str, str],
) -> StagedDisk:
    """An empty managed disk made for upload, with the import's settings, open for writing. A disk of that name
    that an earlier attempt of this step left (no VM holds it, vmshift's tags name this VM and purpose) is replaced:
    what it holds is not known; any other is refused."""
    try:
        existing = clients.compute.disks.get(resource_group, disk.name)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        found = existing.tags or {}
        if existing.managed_by or any(found.get(tag) != tags.get(tag) for tag in (SOURCE_VM_TAG, PURPOSE_TAG)):
            raise DiskFromOtherRecoveryPoint(
                f"managed disk {disk.name} in {resource_group} exists"
                + (f" and VM {existing.managed_by} uses it" if existing.managed_by else
                   f", and its tags ({SOURCE_VM_TAG}={found.get(SOURCE_VM_TAG)}, {PURPOSE_TAG}="
                   f"{found.get(PURPOSE_TAG)}) do not make it the {tags.get(PURPOSE_TAG)} disk of "
                   f"{tags.get(SOURCE_VM_TAG)}")
                + ": vmshift leaves it alone; delete it (or roll back the VM that uses it), or choose another "
                  "target VM name"
            )
        log.info("managed disk %s was left by an earlier attempt: staging it again", disk.name)
        if existing.properties.disk_state in ("ActiveUpload", "ActiveSAS"):
            clients.compute.disks.begin_revoke_access(resource_group, disk.name).result()
        clients.compute.disks.begin_delete(resource_group, disk.name).result()
    creation = {"createOption": "Upload", "uploadSizeBytes": capacity_bytes + FOOTER_SIZE}
    made = clients.compute.disks.begin_create_or_update(resource_group, disk.name,
                                                        _disk_body(disk, creation, location, tags)).result()
    with naming_what_exists(f"the staging of managed disk {disk.name}", [made.id], ROLLBACK_WITH_DISKS):
        access = clients.compute.disks.begin_grant_access(
            resource_group, disk.name, {"access": "Write", "durationInSeconds": _UPLOAD_SECONDS}).result()
    return StagedDisk(clients, resource_group, disk.name, access.access_sas)
