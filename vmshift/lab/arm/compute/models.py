"""Microsoft.Compute: managed disks (Empty, Import from a page blob, Copy), snapshots, disk access
grants, disk encryption sets, availability sets, VMs, and the regions' sizes.

A disk's bytes live in a sparse file in the lab folder as the fixed VHD Azure would export:
data, then the 512-byte footer; a grant-access URL serves exactly that file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from vmshift.lab.arm.compute import catalog
from vmshift.lab.arm.compute.vhd import FOOTER_SIZE, MIB, InvalidVhd, parse_footer
from vmshift.lab.arm.errors import ArmError, invalid_parameter, resource_not_found
from vmshift.lab.arm.network.models import nic_user
from vmshift.lab.arm.routing import arm_resource
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import StorageBackend
from vmshift.lab.arm.store import GRANT
from vmshift.replication.vhd import build_footer

DISK = "Microsoft.Compute/disks"
SNAPSHOT = "Microsoft.Compute/snapshots"
AVAILABILITY_SET = "Microsoft.Compute/availabilitySets"
DISK_ENCRYPTION_SET = "Microsoft.Compute/diskEncryptionSets"
VIRTUAL_MACHINE = "Microsoft.Compute/virtualMachines"
DISK_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
             "PremiumV2_LRS")
PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
CUSTOMER_KEY_TYPES = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys")
DES_TYPES = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys",
             "ConfidentialVmEncryptedWithCustomerKey")
GIB = 1024 * MIB
_DISK_FILE = "disk-file"
_REVOKED = "grant-revoked"
COPY_CHUNK = 4 * MIB
DATA_ONLY_SKUS = ("UltraSSD_LRS", "PremiumV2_LRS")  # Azure takes these as data disks only


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _sparse_copy(source: Path, target: Path) -> None:
    """Copy a disk file leaving zero chunks as holes, so lab disks stay small on disk."""
    size = source.stat().st_size
    with source.open("rb") as src, target.open("wb") as dst:
        for offset in range(0, size, COPY_CHUNK):
            chunk = src.read(COPY_CHUNK)
            if chunk.count(0) != len(chunk):
                dst.seek(offset)
                dst.write(chunk)
        dst.truncate(size)


class ComputeBackend:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.store = simulator.store
        self.disk_dir = simulator.settings.data_dir / "disks"

    def _scope(self, subscription_id: str, group: str) -> str:
        return self.simulator.group_scope(subscription_id, group) + "/providers/Microsoft.Compute"

    def _get(self, resource_type: str, subscription_id: str, group: str, collection: str,
             name: str) -> dict[str, Any]:
        resource = self.store.get(f"{self._scope(subscription_id, group)}/{collection}/{name}")
        if resource is None:
            raise resource_not_found(resource_type, name, group)
        return resource

    # --- disk files --------------------------------------------------------------------------------

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
            size_bytes = source["properties"]["diskSizeBytes"]
            _sparse_copy(self.disk_file(source["id"]), self._new_disk_file(resource_id))
        else:
            raise invalid_parameter(f"Create option '{option}' is not supported here: use Empty, Import or Copy.",
                                    "creationData.createOption")
        properties: dict[str, Any] = {
            "creationData": creation, "diskSizeGB": math.ceil(size_bytes / GIB), "diskSizeBytes": size_bytes,
            "uniqueId": str(uuid.uuid4()), "timeCreated": _now(),
            "encryption": self._encryption(location, requested.get("encryption")),
            "networkAccessPolicy": requested.get("networkAccessPolicy", "AllowAll"),
            "publicNetworkAccess": requested.get("publicNetworkAccess", "Enabled"),
        }
        if resource_type == DISK:
            properties["diskState"] = "Unattached"
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

    def list_disks(self, subscription_id: str, group: str) -> list[dict[str, Any]]:
        return self.store.list(DISK, self._scope(subscription_id, group))

    def delete_disk(self, subscription_id: str, group: str, name: str, collection: str = "disks") -> bool:
        resource_id = f"{self._scope(subscription_id, group)}/{collection}/{name}"
        disk = self.store.get(resource_id)
        if disk is None:
            return False
        if disk.get("managedBy"):
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {name} is attached to VM {disk['managedBy']}.")
        # An open grantAccess SAS holds a lease on the disk's blob; Azure keeps the disk until access is revoked.
        if disk["properties"].get("diskState") == "ActiveSAS":
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {name} cannot be deleted while it is in state ActiveSAS (a grantAccess SAS URI "
                           "is open). Revoke access to the disk (endGetAccess) and retry the delete.")
        entry = self.store.get(resource_id, kind=_DISK_FILE)
        if entry:
            Path(entry["path"]).unlink(missing_ok=True)
            self.store.delete(resource_id, kind=_DISK_FILE)
        self.store.delete(resource_id)
        return True

    def grant_access(self, subscription_id: str, group: str, name: str, body: dict[str, Any],
                     base_url: str, collection: str = "disks") -> dict[str, Any]:
        """A read URL served by the simulator itself, signed so that only the grant's holder reads it."""
        resource = self._get(DISK if collection == "disks" else SNAPSHOT, subscription_id, group, collection, name)
        if body.get("access") not in ("Read", "Write"):
            raise invalid_parameter("access must be Read or Write.", "access")
        seconds = body.get("durationInSeconds")
        if not isinstance(seconds, int) or seconds < 1:
            raise invalid_parameter("durationInSeconds must be a positive number of seconds.", "durationInSeconds")
        grant = uuid.uuid4().hex
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        self.store.put(grant, {"resource_id": resource["id"], "expires": expires.timestamp(),
                              "created": dt.datetime.now(dt.UTC).timestamp()}, kind=GRANT)
        if collection == "disks":
            resource["properties"]["diskState"] = "ActiveSAS"
            self.store.put(resource["id"], resource)
        return {"accessSAS": f"{base_url}/_lab/disks/{grant}?sig={self.signature(grant)}"}

    def end_get_access(self, subscription_id: str, group: str, name: str, collection: str = "disks") -> None:
        resource = self._get(DISK if collection == "disks" else SNAPSHOT, subscription_id, group, collection, name)
        if collection == "disks":
            resource["properties"]["diskState"] = "Attached" if resource.get("managedBy") else "Unattached"
            self.store.put(resource["id"], resource)
        self.store.put(resource["id"], {"revoked_at": dt.datetime.now(dt.UTC).timestamp()}, kind=_REVOKED)

    def signature(self, grant: str) -> str:
        return hmac.new(self.simulator.settings.signing_key, grant.encode(), hashlib.sha256).hexdigest()

    def granted_file(self, grant: str, signature: str) -> Path:
        """The disk file a signed, unexpired, unrevoked grant reads; 403 as Azure Storage answers otherwise."""
        entry = self.store.get(grant, kind=GRANT)
        if entry is None or not hmac.compare_digest(signature, self.signature(grant)):
            raise ArmError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                                                        "value of Authorization header is formed correctly.")
        revoked = self.store.get(entry["resource_id"], kind=_REVOKED)
        now = dt.datetime.now(dt.UTC).timestamp()
        if entry["expires"] < now or (revoked and revoked["revoked_at"] >= entry.get("created", 0)):
            raise ArmError(403, "AuthenticationFailed", "Signed expiry time has passed or access was revoked.")
        return self.disk_file(entry["resource_id"])

    # --- disk encryption sets and availability sets ------------------------------------------------

    def create_or_update_disk_encryption_set(self, subscription_id: str, group: str, name: str,
                                             body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "diskEncryptionSets", name, body)
        requested = body.get("properties") or {}
        encryption_type = requested.get("encryptionType", "EncryptionAtRestWithCustomerKey")
        if encryption_type not in DES_TYPES:
            raise invalid_parameter(f"Encryption type '{encryption_type}' is not valid for a disk encryption set.",
                                    "properties.encryptionType")
        key_url = (requested.get("activeKey") or {}).get("keyUrl")
        if not key_url:
            raise invalid_parameter("activeKey.keyUrl is required.", "properties.activeKey.keyUrl")
        identity = body.get("identity") or {"type": "SystemAssigned"}
        identity = {**identity, "principalId": str(uuid.uuid4()), "tenantId": self.simulator.settings.tenant_id}
        des = arm_resource(resource_id, DISK_ENCRYPTION_SET, location, {
            "encryptionType": encryption_type, "activeKey": requested["activeKey"],
            "rotationToLatestKeyVersionEnabled": bool(requested.get("rotationToLatestKeyVersionEnabled")),
        }, body.get("tags"), identity=identity)
        return des, existing is None

    def get_disk_encryption_set(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(DISK_ENCRYPTION_SET, subscription_id, group, "diskEncryptionSets", name)

    def create_or_update_availability_set(self, subscription_id: str, group: str, name: str,
                                          body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "availabilitySets", name, body)
        requested = body.get("properties") or {}
        faults = requested.get("platformFaultDomainCount", 2)
        updates = requested.get("platformUpdateDomainCount", 5)
        if not 1 <= faults <= 3:
            raise invalid_parameter("platformFaultDomainCount must be between 1 and 3.",
                                    "properties.platformFaultDomainCount")
        if not 1 <= updates <= 20:
            raise invalid_parameter("platformUpdateDomainCount must be between 1 and 20.",
                                    "properties.platformUpdateDomainCount")
        # Azure's default is Classic (AvailabilitySet_Create.json answers sku Classic to a body without one).
        avset = arm_resource(resource_id, AVAILABILITY_SET, location, {
            "platformFaultDomainCount": faults, "platformUpdateDomainCount": updates,
            "virtualMachines": (existing or {}).get("properties", {}).get("virtualMachines", []),
        }, body.get("tags"), sku={"name": (body.get("sku") or {}).get("name", "Classic")})
        avset["properties"].pop("provisioningState", None)
        return avset, existing is None

    def get_availability_set(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(AVAILABILITY_SET, subscription_id, group, "availabilitySets", name)

    # --- virtual machines --------------------------------------------------------------------------

    def _managed_disk(self, reference: dict[str, Any], location: str, vm_id: str, target: str) -> dict[str, Any]:
        disk_id = (reference.get("managedDisk") or {}).get("id")
        if reference.get("createOption", "Attach") != "Attach" or not disk_id:
            raise invalid_parameter("The lab attaches existing managed disks only: createOption Attach with "
                                    "managedDisk.id.", target)
        disk = self.store.get(disk_id)
        if disk is None or disk["type"] != DISK:
            raise ArmError(404, "NotFound", f"Disk {disk_id} was not found.", target)
        if disk["location"] != location:
            raise ArmError(400, "InvalidParameter",
                           f"Disk {disk_id} is in location '{disk['location']}' and cannot be attached to a "
                           f"virtual machine in location '{location}'.", target)
        if disk.get("managedBy") and disk["managedBy"].lower() != vm_id.lower():
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {disk['name']} is already attached to VM {disk['managedBy']}.", target)
        if disk["properties"].get("diskState") == "ActiveSAS":
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {disk['name']} cannot be attached while it is in state ActiveSAS (a grantAccess "
                           "SAS URI is open). Revoke access to the disk (endGetAccess) and retry.", target)
        return disk

    def create_or_update_virtual_machine(self, subscription_id: str, group: str, name: str,
                                         body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "virtualMachines", name, body, rule="vm")
        requested = body.get("properties") or {}
        size = (requested.get("hardwareProfile") or {}).get("vmSize", "")
        region = catalog.region(location)
        zones = body.get("zones") or []
        unavailable = zones if size not in region.sizes else [z for z in zones if z not in region.zones_for(size)]
        if size not in region.sizes or unavailable:
            raise ArmError(409, "SkuNotAvailable",
                           f"The requested size {size} for resource '{resource_id}' is currently not available in "
                           f"location '{location}' zones '{','.join(unavailable)}' for subscription "
                           f"'{subscription_id}'. Please try another size or deploy to a different location or "
                           "zones. See https://aka.ms/azureskunotavailable for details.")
        avset_id = (requested.get("availabilitySet") or {}).get("id")
        avset = None
        if avset_id:
            if zones:
                raise ArmError(400, "InvalidParameter",
                               "Virtual Machine cannot be created with both an availability set and an "
                               "availability zone.", "availabilitySet")
            avset = self.store.get(avset_id)
            if avset is None or avset["type"] != AVAILABILITY_SET:
                raise ArmError(404, "NotFound", f"Availability set {avset_id} was not found.", "availabilitySet")
            if not avset["id"].lower().startswith(self.simulator.group_scope(subscription_id, group).lower() + "/"):
                raise ArmError(400, "InvalidParameter",
                               f"The availability set {avset['id']} must be in the same resource group as the "
                               f"virtual machine ({group}).", "availabilitySet")
            if avset["location"] != location:
                raise ArmError(400, "InvalidParameter",
                               f"The availability set {avset['id']} is in location '{avset['location']}'; the "
                               f"virtual machine is in '{location}'.", "availabilitySet")
            if avset["sku"]["name"] != "Aligned":
                # The lab's VMs always have managed disks, which only an Aligned set takes.
                raise ArmError(409, "OperationNotAllowed",
                               "Addition of a VM with managed disks to non-managed Availability Set or addition of "
                               "a VM with blob based disks to managed Availability Set is not supported. Please "
                               "create an Availability Set with 'Aligned' SKU in order to add a VM with managed "
                               "disks to it.", name)
        storage = requested.get("storageProfile") or {}
        os_reference = storage.get("osDisk") or {}
        os_disk = self._managed_disk(os_reference, location, resource_id, "osDisk")
        data_references = storage.get("dataDisks") or []
        size_caps = catalog.SIZES[size]
        limit = size_caps.max_data_disks
        if len(data_references) > limit:
            raise ArmError(409, "OperationNotAllowed",
                           f"The maximum number of data disks allowed to be attached to a VM of this size is "
                           f"{limit}.", "dataDisks")
        luns = [d.get("lun") for d in data_references]
        if len(set(luns)) != len(luns) or any(not isinstance(lun, int) or not 0 <= lun < 64 for lun in luns):
            raise invalid_parameter("Each data disk needs its own lun between 0 and 63.", "dataDisks")
        data_disks = [self._managed_disk(d, location, resource_id, f"dataDisks[{i}]")
                      for i, d in enumerate(data_references)]
        if os_disk["sku"]["name"] in DATA_ONLY_SKUS:
            raise invalid_parameter(f"Disk {os_disk['id']} of type {os_disk['sku']['name']} can only be a data "
                                    "disk, not the OS disk.", "osDisk")
        generation = os_disk["properties"].get("hyperVGeneration", "V1")
        if generation not in size_caps.hyperv_generations.split(","):
            raise ArmError(400, "BadRequest",
                           f"The selected VM size '{size}' cannot boot Hypervisor Generation "
                           f"'{generation.removeprefix('V')}'. If this was a Create operation please check that the "
                           "Hypervisor Generation of the Image matches the Hypervisor Generation of the selected VM "
                           f"Size. If this was an Update operation please select a Hypervisor Generation "
                           f"'{generation.removeprefix('V')}' VM Size.")
        for disk in [os_disk, *data_disks]:
            if disk["sku"]["name"].startswith(("Premium", "Ultra")) and not size_caps.premium_io:
                raise ArmError(400, "BadRequest",
                               f"Requested operation cannot be performed because the VM size {size} does not "
                               f"support the storage account type {disk['sku']['name']} of disk '{disk['name']}'. "
                               "Consider updating the VM to a size that supports Premium storage.")
            if zones and disk.get("zones") and disk["zones"] != zones:
                raise ArmError(400, "BadRequest",
                               f"Disk {disk['id']} is in zone {disk['zones'][0]}, the virtual machine in zone "
                               f"{zones[0]}.")
        nics = []
        for index, reference in enumerate((requested.get("networkProfile") or {}).get("networkInterfaces") or []):
            nic = self.store.get(reference.get("id", ""))
            if nic is None or nic["type"] != "Microsoft.Network/networkInterfaces":
                raise ArmError(404, "NotFound", f"Network interface {reference.get('id')} was not found.",
                               f"networkProfile.networkInterfaces[{index}]")
            if nic["location"] != location:
                raise invalid_parameter(f"Network interface {nic['id']} is in '{nic['location']}'; the virtual "
                                        f"machine is in '{location}'.", f"networkProfile.networkInterfaces[{index}]")
            owner = (nic_user(nic) or {}).get("id")
            if owner and owner.lower() != resource_id.lower():
                raise ArmError(400, "NicInUse", f"Network interface {nic['id']} is used by {owner}.",
                               f"networkProfile.networkInterfaces[{index}]")
            nics.append((nic, reference))
        if not nics:
            raise invalid_parameter("A virtual machine needs at least one network interface.", "networkProfile")
        license_type = requested.get("licenseType")
        if license_type not in (None, "Windows_Server", "Windows_Client", "RHEL_BYOS", "SLES_BYOS", "None"):
            raise invalid_parameter(f"License type '{license_type}' is not valid.", "licenseType")
        os_type = os_reference.get("osType") or os_disk["properties"].get("osType")
        if not os_type:
            raise invalid_parameter("osType is required when attaching an existing OS disk.", "osDisk.osType")
        for disk in [os_disk, *data_disks]:
            disk["managedBy"] = resource_id
            disk["properties"]["diskState"] = "Attached"
            self.store.put(disk["id"], disk)
        for nic, _ in nics:
            nic["properties"]["virtualMachine"] = {"id": resource_id}
            self.store.put(nic["id"], nic)
        if avset is not None and resource_id.upper() not in [v["id"].upper() for v in
                                                             avset["properties"]["virtualMachines"]]:
            avset["properties"]["virtualMachines"].append({"id": resource_id.upper()})
            self.store.put(avset["id"], avset)
        self._release(existing, keep={d["id"].lower() for d in [os_disk, *data_disks]} |
                      {n["id"].lower() for n, _ in nics})
        properties: dict[str, Any] = {
            "vmId": (existing or {}).get("properties", {}).get("vmId", str(uuid.uuid4())),
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "osDisk": {"osType": os_type, "name": os_disk["name"], "createOption": "Attach",
                           "caching": os_reference.get("caching", "ReadWrite"),
                           "managedDisk": {"id": os_disk["id"],
                                           "storageAccountType": os_disk["sku"]["name"]},
                           "diskSizeGB": os_disk["properties"]["diskSizeGB"], "deleteOption": "Detach"},
                "dataDisks": [{"lun": ref["lun"], "name": disk["name"], "createOption": "Attach",
                               "caching": ref.get("caching", "None"),
                               "managedDisk": {"id": disk["id"], "storageAccountType": disk["sku"]["name"]},
                               "diskSizeGB": disk["properties"]["diskSizeGB"], "toBeDetached": False,
                               "deleteOption": "Detach"} for ref, disk in zip(data_references, data_disks,
                                                                               strict=True)],
            },
            "networkProfile": {"networkInterfaces": [
                {"id": nic["id"], "properties": {"primary": (ref.get("properties") or {}).get("primary", i == 0)}}
                for i, (nic, ref) in enumerate(nics)]},
            "timeCreated": (existing or {}).get("properties", {}).get("timeCreated", _now()),
            "_powerState": (existing or {}).get("properties", {}).get("_powerState", "running"),
        }
        if avset is not None:
            properties["availabilitySet"] = {"id": avset["id"].upper()}
        if license_type:
            properties["licenseType"] = license_type
        if requested.get("diagnosticsProfile"):
            properties["diagnosticsProfile"] = requested["diagnosticsProfile"]
        extra: dict[str, Any] = {"zones": zones} if zones else {}
        vm = arm_resource(resource_id, VIRTUAL_MACHINE, location, properties, body.get("tags"), **extra)
        return vm, existing is None

    def _release(self, vm: dict[str, Any] | None, keep: set[str] = frozenset()) -> None:
        """Detach what a VM no longer names (or everything, when it is deleted)."""
        if vm is None:
            return
        storage = vm["properties"]["storageProfile"]
        for reference in [storage["osDisk"], *storage["dataDisks"]]:
            disk = self.store.get(reference["managedDisk"]["id"])
            if disk is not None and disk["id"].lower() not in keep:
                disk.pop("managedBy", None)
                disk["properties"]["diskState"] = "Unattached"
                self.store.put(disk["id"], disk)
        for reference in vm["properties"]["networkProfile"]["networkInterfaces"]:
            nic = self.store.get(reference["id"])
            if nic is not None and nic["id"].lower() not in keep:
                nic["properties"].pop("virtualMachine", None)
                self.store.put(nic["id"], nic)

    @staticmethod
    def public_view(vm: dict[str, Any], instance_view: bool = False) -> dict[str, Any]:
        """The VM as ARM returns it: the power state shows only through the instance view."""
        view = {**vm, "properties": {k: v for k, v in vm["properties"].items() if not k.startswith("_")}}
        if instance_view:
            view["properties"]["instanceView"] = ComputeBackend.instance_view(vm)
        return view

    @staticmethod
    def instance_view(vm: dict[str, Any]) -> dict[str, Any]:
        power = vm["properties"]["_powerState"]
        display = {"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated"}[power]
        state = vm["properties"].get("provisioningState", "Succeeded")
        return {
            "computerName": vm["name"], "osName": vm["properties"]["storageProfile"]["osDisk"]["osType"],
            "statuses": [
                {"code": f"ProvisioningState/{state.lower()}", "level": "Info",
                 "displayStatus": f"Provisioning {state.lower()}", "time": _now()},
                {"code": f"PowerState/{power}", "level": "Info", "displayStatus": display},
            ],
            "disks": [{"name": d["name"], "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info"}]}
                      for d in [vm["properties"]["storageProfile"]["osDisk"],
                                *vm["properties"]["storageProfile"]["dataDisks"]]],
        }

    def get_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(VIRTUAL_MACHINE, subscription_id, group, "virtualMachines", name)

    def list_virtual_machines(self, subscription_id: str, group: str) -> list[dict[str, Any]]:
        return self.store.list(VIRTUAL_MACHINE, self._scope(subscription_id, group))

    def set_power_state(self, subscription_id: str, group: str, name: str, power: str) -> dict[str, Any]:
        vm = self.get_virtual_machine(subscription_id, group, name)
        vm["properties"]["_powerState"] = power
        self.store.put(vm["id"], vm)
        return vm

    def delete_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        vm = self.store.get(f"{self._scope(subscription_id, group)}/virtualMachines/{name}")
        if vm is None:
            return None
        self._release(vm)
        avset_id = (vm["properties"].get("availabilitySet") or {}).get("id")
        avset = self.store.get(avset_id) if avset_id else None
        if avset is not None:
            avset["properties"]["virtualMachines"] = [v for v in avset["properties"]["virtualMachines"]
                                                      if v["id"].lower() != vm["id"].lower()]
            self.store.put(avset["id"], avset)
        self.store.delete(vm["id"])
        return vm
