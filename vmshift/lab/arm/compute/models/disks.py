"""Managed disks and snapshots: Empty, Import from a page blob, Copy, Upload; and their disk access grants.

A disk's bytes live in a sparse file in the lab folder as the fixed VHD Azure would export:
data, then the 512-byte footer; a grant-access URL serves exactly that file. A snapshot is kept
as a disk is (Azure's snapshots take the same creationData and the same grantAccess).

Upload (direct upload to a managed disk): the disk is made ReadyToUpload with `uploadSizeBytes` (data and
footer); a Write grant (ActiveUpload) takes Put Page on its URL; revoking it leaves the disk Unattached. A VM
refuses an uploaded disk whose last 512 bytes are not the fixed-VHD footer the uploader had to write.

A Copy shares the source's file (a hard link): Azure takes a snapshot without copying data, and so does the lab,
so that freezing a disk costs the same for any size. Nothing writes a disk file once it is made but an upload,
and a disk in upload cannot be copied.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import hmac
import math
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.compute import catalog
from vmshift.lab.arm.compute.models.disk_encryption_sets import DISK_ENCRYPTION_SET
from vmshift.lab.arm.compute.vhd import FOOTER_SIZE, MIB, InvalidVhd, parse_footer
from vmshift.lab.arm.errors import ArmError, invalid_parameter
from vmshift.lab.arm.storage.models import StorageBackend
from vmshift.lab.arm.store import GRANT
from vmshift.lab.arm.wire import arm_resource, timestamp
from vmshift.replication.vhd import build_footer

DISK = "Microsoft.Compute/disks"
SNAPSHOT = "Microsoft.Compute/snapshots"
DISK_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
             "PremiumV2_LRS")
DATA_ONLY_SKUS = ("UltraSSD_LRS", "PremiumV2_LRS")  # Azure takes these as data disks only
PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
CUSTOMER_KEY_TYPES = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys")
GIB = 1024 * MIB
_DISK_FILE = "disk-file"
_REVOKED = "grant-revoked"
COPY_CHUNK = 4 * MIB
PAGE = 512  # a page blob's page, the unit of Get Page Ranges


UPLOAD_MIN = 20 * MIB + FOOTER_SIZE  # Azure's smallest uploadSizeBytes
UPLOAD_MAX = 32 * 1024 * GIB + FOOTER_SIZE
PAGE_WRITE_MAX = 4 * MIB  # Put Page takes at most 4 MiB
UPLOAD_STATES = ("ReadyToUpload", "ActiveUpload")


def _punch_hole(fd: int, offset: int, length: int) -> None:
    """Deallocates a range of a file (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): it reads as zeros, holds no data."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    if libc.fallocate(fd, 0x02 | 0x01, offset, length) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


class DiskBackend(BaseBackend):
    # --- disk files --------------------------------------------------------------------------------

    @property
    def disk_dir(self) -> Path:
        return self.simulator.settings.data_dir / "disks"

    def disk_file(self, resource_id: str) -> Path:
        entry = self.store.get(resource_id, kind=_DISK_FILE)
        if entry is None:
            raise ArmError(404, "ResourceNotFound", f"The disk data of {resource_id} was not found.")
        return Path(entry["path"])

    def _new_disk_file(self, resource_id: str) -> Path:
        self.disk_dir.mkdir(parents=True, exist_ok=True)
        path = self.disk_dir / f"{uuid.uuid4()}.vhd"
        self.store.put(resource_id, {"path": str(path)}, kind=_DISK_FILE)
        return path

    def _empty_disk_file(self, resource_id: str, size: int) -> Path:
        path = self._new_disk_file(resource_id)
        with path.open("wb") as f:
            f.truncate(size)
            f.seek(size)
            f.write(build_footer(size))
        return path

    def _import_blob(self, resource_id: str, disk_name: str, source_uri: str, storage_account_id: str) -> int:
        """Read the page blob from Azurite and keep its bytes; refuse what Azure's import refuses."""
        account = self.store.get(storage_account_id) if storage_account_id else None
        if account is None or account["type"] != "Microsoft.Storage/storageAccounts":
            raise invalid_parameter(f"Storage account {storage_account_id} was not found; Import needs the "
                                    "storageAccountId of the account holding the blob.",
                                    "disk.creationData.storageAccountId")
        blob = self._blob_client(account, source_uri)
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError as exc:
            raise ArmError(400, "InvalidParameter", f"The blob {source_uri} does not exist.",
                           "disk.creationData.sourceUri") from exc
        except AzureError as exc:
            raise ArmError(400, "InvalidParameter", f"The blob {source_uri} could not be read: {exc}.",
                           "disk.creationData.sourceUri") from exc
        size = properties.size
        if properties.blob_type != "PageBlob":
            raise ArmError(400, "BadRequest", "Only blobs formatted as VHDs can be imported.")
        if size < FOOTER_SIZE + MIB or (size - FOOTER_SIZE) % MIB:
            raise ArmError(400, "BadRequest",
                           f"The size in bytes {size} - 512 bytes for the VHD footer ({size - FOOTER_SIZE} in "
                           f"this case) of blob {source_uri} must be a multiple of MiB.")
        footer = blob.download_blob(offset=size - FOOTER_SIZE, length=FOOTER_SIZE).readall()
        try:
            parsed = parse_footer(footer)
        except InvalidVhd as exc:
            raise ArmError(400, "InvalidParameter",
                           f"The specified cookie value in VHD footer indicates that disk '{disk_name}' with blob "
                           f"{source_uri} is not a supported VHD ({exc}). Disk is expected to have cookie value "
                           "'conectix'.", "disks") from exc
        if parsed.current_size != size - FOOTER_SIZE:
            raise ArmError(400, "InvalidParameter",
                           f"The VHD footer of blob {source_uri} gives a size of {parsed.current_size} bytes, "
                           f"but the blob holds {size - FOOTER_SIZE} bytes of data.", "disks")
        path = self._new_disk_file(resource_id)
        with path.open("wb") as f:
            f.truncate(size)
            for page in blob.list_page_ranges():
                if page.cleared:
                    continue
                for offset in range(page.start, page.end + 1, COPY_CHUNK):
                    length = min(COPY_CHUNK, page.end + 1 - offset)
                    f.seek(offset)
                    f.write(blob.download_blob(offset=offset, length=length).readall())
        return size - FOOTER_SIZE

    def _blob_client(self, account: dict[str, Any], source_uri: str) -> BlobClient:
        """The blob behind a URI given either Azurite-style (host/account/...) or as *.blob.core.windows.net."""
        parsed = urlparse(source_uri)
        parts = [p for p in parsed.path.split("/") if p]
        # A recovery point is a blob snapshot: `?snapshot=<timestamp>` selects its bytes, not the base blob's.
        snapshot = parse_qs(parsed.query).get("snapshot", [None])[0]
        if parsed.hostname and parsed.hostname.endswith(".blob.core.windows.net"):
            account_name, container, blob_name = parsed.hostname.split(".")[0], parts[0], "/".join(parts[1:])
        elif len(parts) >= 3:
            account_name, container, blob_name = parts[0], parts[1], "/".join(parts[2:])
        else:
            raise invalid_parameter(f"The source URI {source_uri} does not name a blob.",
                                    "disk.creationData.sourceUri")
        if account_name != account["name"]:
            raise invalid_parameter(f"The blob {source_uri} is not in storage account {account['id']}.",
                                    "disk.creationData.storageAccountId")
        storage = StorageBackend(self.simulator)
        key = storage.list_keys(*self._account_parts(account))["keys"][0]["value"]
        settings = self.simulator.settings
        return BlobClient(storage.blob_endpoint(account_name).rstrip("/"), container, blob_name, snapshot=snapshot,
                          credential={"account_name": account_name, "account_key": key},
                          connection_verify=str(settings.ca_file) if settings.ca_file else True)

    @staticmethod
    def _account_parts(account: dict[str, Any]) -> tuple[str, str, str]:
        parts = account["id"].split("/")
        return parts[2], parts[4], parts[-1]

    # --- disks and snapshots -----------------------------------------------------------------------

    def _encryption(self, location: str, requested: dict[str, Any] | None) -> dict[str, Any]:
        requested = requested or {}
        encryption_type = requested.get("type", PLATFORM_KEY)
        des_id = requested.get("diskEncryptionSetId")
        if encryption_type == PLATFORM_KEY:
            if des_id:
                raise invalid_parameter("A disk encryption set cannot be used with "
                                        "EncryptionAtRestWithPlatformKey.", "encryption.diskEncryptionSetId")
            return {"type": PLATFORM_KEY}
        if encryption_type not in CUSTOMER_KEY_TYPES:
            raise invalid_parameter(f"Encryption type '{encryption_type}' is not supported.", "encryption.type")
        des = self.store.get(des_id) if des_id else None
        if des is None or des["type"] != DISK_ENCRYPTION_SET:
            # Azure answers 400 BadRequest here, not 404 (the disk is what is being created).
            raise ArmError(400, "BadRequest", f"DiskEncryptionSet '{des_id}' was not found; encryption type "
                                              f"{encryption_type} needs an existing disk encryption set.",
                           "encryption.diskEncryptionSetId")
        if des["location"] != location:
            raise invalid_parameter(f"Disk encryption set {des_id} is in {des['location']}; the disk is in "
                                    f"{location}.", "encryption.diskEncryptionSetId")
        if des["properties"]["encryptionType"] != encryption_type:
            raise invalid_parameter(f"Disk encryption set {des_id} is of type {des['properties']['encryptionType']}, "
                                    f"not {encryption_type}.", "encryption.type")
        return {"type": encryption_type, "diskEncryptionSetId": des["id"]}

    def _zones(self, location: str, zones: list[str] | None) -> list[str] | None:
        if not zones:
            return None
        offered = catalog.region(location).zones
        for zone in zones:
            if zone not in offered:
                raise invalid_parameter(f"The zone(s) '{zone}' for resource is not supported. The supported "
                                        f"availability zones for location '{location}' are "
                                        f"'{','.join(offered)}'.", "zones")
        return zones

    def create_or_update_disk(self, subscription_id: str, group: str, name: str,
                              body: dict[str, Any], resource_type: str = DISK) -> tuple[dict[str, Any], bool]:
        collection = "disks" if resource_type == DISK else "snapshots"
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), collection, name, body)
        requested = body.get("properties") or {}
        sku = (body.get("sku") or {}).get("name", "Standard_LRS")
        if sku not in DISK_SKUS:
            raise invalid_parameter(f"The value '{sku}' is not a valid disk SKU. Valid SKUs: {', '.join(DISK_SKUS)}.",
                                    "sku.name")
        creation = requested.get("creationData") or {}
        if existing is not None:
            if creation and creation.get("createOption") != existing["properties"]["creationData"]["createOption"]:
                raise ArmError(409, "PropertyChangeNotAllowed",
                               "Changing property 'creationData.createOption' is not allowed.",
                               "creationData.createOption")
            disk = existing
            disk["tags"] = body.get("tags", disk["tags"])
            return disk, False
        option = creation.get("createOption")
        size_bytes: int
        if option == "Empty" and resource_type == DISK:
            size_gb = requested.get("diskSizeGB")
            if not isinstance(size_gb, int) or size_gb < 1:
                raise invalid_parameter("Disk size must be given as diskSizeGB for an Empty disk.", "diskSizeGB")
            size_bytes = size_gb * GIB
            self._empty_disk_file(resource_id, size_bytes)
        elif option == "Import":
            source_uri = creation.get("sourceUri")
            if not source_uri:
                raise invalid_parameter("sourceUri is required for createOption Import.", "sourceUri")
            size_bytes = self._import_blob(resource_id, name, source_uri, creation.get("storageAccountId", ""))
        elif option == "Copy":
            # The REST examples write "subscriptions/..." without the leading slash, and Azure takes it.
            source = self.store.get("/" + (creation.get("sourceResourceId") or "").lstrip("/"))
            if source is None or source["type"] not in (DISK, SNAPSHOT):
                raise ArmError(404, "NotFound", f"Source {creation.get('sourceResourceId')} to copy from was not "
                                                "found.", "sourceResourceId")
            if source["location"] != location:
                raise invalid_parameter(f"The source {source['id']} is in {source['location']}, the new resource in "
                                        f"{location}.", "sourceResourceId")
            if source["properties"].get("diskState") in UPLOAD_STATES:
                raise ArmError(409, "OperationNotAllowed", f"Disk {source['name']} is in state "
                               f"{source['properties']['diskState']}: finish its upload (endGetAccess) first.")
            size_bytes = source["properties"]["diskSizeBytes"]
            target = self._new_disk_file(resource_id)
            os.link(self.disk_file(source["id"]), target)
        elif option == "Upload" and resource_type == DISK:
            upload = creation.get("uploadSizeBytes")
            if not isinstance(upload, int) or not UPLOAD_MIN <= upload <= UPLOAD_MAX:
                raise invalid_parameter(f"uploadSizeBytes must be between {UPLOAD_MIN} and {UPLOAD_MAX} bytes (the "
                                        "disk's data and the 512-byte VHD footer).", "creationData.uploadSizeBytes")
            if (upload - FOOTER_SIZE) % MIB:
                raise invalid_parameter(f"uploadSizeBytes {upload} - 512 bytes for the VHD footer must be a multiple "
                                        "of MiB.", "creationData.uploadSizeBytes")
            size_bytes = upload - FOOTER_SIZE
            with self._new_disk_file(resource_id).open("wb") as f:  # the footer is the uploader's to write
                f.truncate(upload)
        else:
            raise invalid_parameter(f"Create option '{option}' is not supported here: use Empty, Import, Copy or "
                                    "Upload.", "creationData.createOption")
        properties: dict[str, Any] = {
            "creationData": creation, "diskSizeGB": math.ceil(size_bytes / GIB), "diskSizeBytes": size_bytes,
            "uniqueId": str(uuid.uuid4()), "timeCreated": timestamp(),
            "encryption": self._encryption(location, requested.get("encryption")),
            "networkAccessPolicy": requested.get("networkAccessPolicy", "AllowAll"),
            "publicNetworkAccess": requested.get("publicNetworkAccess", "Enabled"),
        }
        if resource_type == DISK:
            properties["diskState"] = "ReadyToUpload" if option == "Upload" else "Unattached"
        else:
            properties["incremental"] = bool(requested.get("incremental", False))
        for key in ("osType", "hyperVGeneration"):
            if requested.get(key):
                properties[key] = requested[key]
        if requested.get("hyperVGeneration") not in (None, "V1", "V2"):
            raise invalid_parameter(f"hyperVGeneration '{requested['hyperVGeneration']}' is not V1 or V2.",
                                    "hyperVGeneration")
        extra: dict[str, Any] = {"sku": {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"}}
        zones = self._zones(location, body.get("zones"))
        if zones and resource_type == DISK:
            extra["zones"] = zones
        disk = arm_resource(resource_id, resource_type, location, properties, body.get("tags"), **extra)
        return disk, True

    def get_disk(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(DISK, subscription_id, group, "disks", name)

    def get_snapshot(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(SNAPSHOT, subscription_id, group, "snapshots", name)

    def list_disks(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(DISK, subscription_id, group)

    def delete_disk(self, subscription_id: str, group: str, name: str,
                    collection: str = "disks") -> dict[str, Any] | None:
        resource_id = f"{self._scope(subscription_id, group)}/{collection}/{name}"
        disk = self.store.get(resource_id)
        if disk is None:
            return None
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {name} is attached to VM {disk['managedBy']}.")
        # An open grantAccess SAS holds a lease on the disk's blob; Azure keeps the disk until access is revoked.
        if disk["properties"].get("diskState") in ("ActiveSAS", "ActiveUpload"):
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {name} cannot be deleted while it is in state {disk['properties']['diskState']} "
                           "(a grantAccess SAS URI is open). Revoke access to the disk (endGetAccess) and retry the "
                           "delete.")
        entry = self.store.get(resource_id, kind=_DISK_FILE)
        if entry:
            Path(entry["path"]).unlink(missing_ok=True)
            self.store.delete(resource_id, kind=_DISK_FILE)
        self.store.delete(resource_id)
        return disk

    def grant_access(self, subscription_id: str, group: str, name: str, body: dict[str, Any],
                     base_url: str, collection: str = "disks") -> dict[str, Any]:
        """A URL served by the simulator itself, signed so that only the grant's holder reads it (or, for a disk
        made for upload, writes it)."""
        resource = self._get(DISK if collection == "disks" else SNAPSHOT, subscription_id, group, collection, name)
        access = body.get("access")
        if access not in ("Read", "Write"):
            raise invalid_parameter("access must be Read or Write.", "access")
        state = resource["properties"].get("diskState")
        if (access == "Write") != (state == "ReadyToUpload"):
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {name} is in state {state}: Write access is granted only to a disk created with "
                           "createOption Upload, once, in state ReadyToUpload; Read access not to such a disk "
                           "until its upload is done.")
        seconds = body.get("durationInSeconds")
        if not isinstance(seconds, int) or seconds < 1:
            raise invalid_parameter("durationInSeconds must be a positive number of seconds.", "durationInSeconds")
        grant = uuid.uuid4().hex
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        self.store.put(grant, {"resource_id": resource["id"], "expires": expires.timestamp(), "access": access,
                              "created": dt.datetime.now(dt.UTC).timestamp()}, kind=GRANT)
        if collection == "disks":
            resource["properties"]["diskState"] = "ActiveUpload" if access == "Write" else "ActiveSAS"
            self.store.put(resource["id"], resource)
        return {"accessSAS": f"{base_url}/_lab/disks/{grant}?sig={self.signature(grant)}"}

    def end_get_access(self, subscription_id: str, group: str, name: str, collection: str = "disks") -> None:
        resource = self._get(DISK if collection == "disks" else SNAPSHOT, subscription_id, group, collection, name)
        if collection == "disks":
            resource["properties"]["diskState"] = "Attached" if resource.get("managedBy") else "Unattached"
            self.store.put(resource["id"], resource)
        self.store.put(resource["id"], {"revoked_at": dt.datetime.now(dt.UTC).timestamp()}, kind=_REVOKED)

    def check_uploaded_footer(self, disk: dict[str, Any], target: str) -> None:
        """An upload is a fixed VHD: a disk whose last 512 bytes are not its footer is refused where it is used."""
        path = self.disk_file(disk["id"])
        with path.open("rb") as f:
            f.seek(path.stat().st_size - FOOTER_SIZE)
            footer = f.read(FOOTER_SIZE)
        try:
            parsed = parse_footer(footer)
        except InvalidVhd as exc:
            raise ArmError(400, "InvalidParameter", f"The uploaded VHD of disk {disk['name']} has no valid fixed-VHD "
                                                    f"footer in its last 512 bytes ({exc}).", target) from exc
        if parsed.current_size != disk["properties"]["diskSizeBytes"]:
            raise ArmError(400, "InvalidParameter",
                           f"The uploaded VHD footer of disk {disk['name']} gives a size of {parsed.current_size} "
                           f"bytes; the disk holds {disk['properties']['diskSizeBytes']} bytes of data.", target)

    def put_page(self, grant: str, signature: str, first: int, last: int, data: bytes | None) -> None:
        """Put Page on a Write grant: `data` written at first..last (inclusive), or those pages cleared (None).
        No Copy shares the file: a disk in upload cannot be copied."""
        path = self.granted_file(grant, signature, "Write")
        size = path.stat().st_size
        length = last + 1 - first
        if first % PAGE or length % PAGE or length <= 0 or last >= size:
            raise ArmError(416, "InvalidPageRange", f"The page range {first}-{last} is invalid: it must be 512-byte "
                                                    f"aligned and within the disk's {size} bytes.")
        if data is not None and length > PAGE_WRITE_MAX:  # a clear may span the whole disk, as in Azure Storage
            raise ArmError(413, "RequestBodyTooLarge", f"The request body is too large: a page write takes at most "
                                                       f"{PAGE_WRITE_MAX} bytes, not {length}.")
        if data is not None and len(data) != length:
            raise ArmError(400, "InvalidHeaderValue", f"The range gives {length} bytes; the body holds {len(data)}.")
        with path.open("r+b") as f:
            if data is None:  # cleared pages are no longer pages: Get Page Ranges leaves them out
                _punch_hole(f.fileno(), first, length)
            else:
                f.seek(first)
                f.write(data)

    def signature(self, grant: str) -> str:
        return hmac.new(self.simulator.settings.signing_key, grant.encode(), hashlib.sha256).hexdigest()

    def granted_page_ranges(self, grant: str, signature: str, start: int = 0,
                            end: int | None = None) -> list[tuple[int, int]]:
        """Get Page Ranges on the read link, as Azure Storage answers it on a managed disk's SAS: the written
        pages, as [first, last] byte pairs (inclusive, 512-aligned), within start..end if a range is asked.
        The disk file is sparse, so its data extents are the pages written (the footer's among them)."""
        path = self.granted_file(grant, signature)
        size = path.stat().st_size
        end = size - 1 if end is None else min(end, size - 1)
        ranges = []
        with path.open("rb") as f:
            offset = start
            while offset <= end:
                try:
                    data = os.lseek(f.fileno(), offset, os.SEEK_DATA)
                except OSError:  # ENXIO: no data after offset
                    break
                hole = os.lseek(f.fileno(), data, os.SEEK_HOLE)
                first, last = max(data, start) // PAGE * PAGE, min(hole, end + 1)
                if first > end:
                    break
                ranges.append((first, -(-last // PAGE) * PAGE - 1))
                offset = hole
        return ranges

    def granted_file(self, grant: str, signature: str, access: str = "Read") -> Path:
        """The disk file a signed, unexpired, unrevoked grant of that `access` reads (or writes); 403 as Azure
        Storage answers otherwise: a read SAS does not write, an upload SAS does not read."""
        entry = self.store.get(grant, kind=GRANT)
        if entry is None or not hmac.compare_digest(signature, self.signature(grant)):
            raise ArmError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                                                        "value of Authorization header is formed correctly.")
        revoked = self.store.get(entry["resource_id"], kind=_REVOKED)
        now = dt.datetime.now(dt.UTC).timestamp()
        if entry["expires"] < now or (revoked and revoked["revoked_at"] >= entry.get("created", 0)):
            raise ArmError(403, "AuthenticationFailed", "Signed expiry time has passed or access was revoked.")
        if entry.get("access", "Read") != access:
            raise ArmError(403, "AuthorizationPermissionMismatch",
                           "This request is not authorized to perform this operation using this permission.")
        return self.disk_file(entry["resource_id"])
