"""Virtual machines: existing managed disks and NICs attached, sizes checked against the region, power."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.compute import catalog
from vmshift.lab.arm.compute.models.availability_sets import AVAILABILITY_SET
from vmshift.lab.arm.compute.models.disks import DATA_ONLY_SKUS, DISK
from vmshift.lab.arm.errors import ArmError, invalid_parameter
from vmshift.lab.arm.network.models import nic_user
from vmshift.lab.arm.wire import arm_resource, timestamp

VIRTUAL_MACHINE = "Microsoft.Compute/virtualMachines"


class VirtualMachineBackend(BaseBackend):
    check_uploaded_footer: Callable[[dict[str, Any], str], None]  # DiskBackend's, beside it in ComputeBackend

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
        if disk["properties"].get("diskState") in ("ReadyToUpload", "ActiveUpload"):
            raise ArmError(409, "OperationNotAllowed",
                           f"Disk {disk['name']} cannot be attached while it is in state "
                           f"{disk['properties']['diskState']}: finish its upload (endGetAccess) first.", target)
        if disk["properties"]["creationData"].get("createOption") == "Upload":
            self.check_uploaded_footer(disk, target)
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
        for i, (nic, ref) in enumerate(nics):
            # ARM shows on the NIC itself the VM it is attached to, and whether it is that VM's primary one.
            nic["properties"]["virtualMachine"] = {"id": resource_id}
            nic["properties"]["primary"] = bool((ref.get("properties") or {}).get("primary", i == 0))
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
            "timeCreated": (existing or {}).get("properties", {}).get("timeCreated", timestamp()),
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
                nic["properties"].pop("primary", None)
                self.store.put(nic["id"], nic)

    @staticmethod
    def public_view(vm: dict[str, Any], instance_view: bool = False) -> dict[str, Any]:
        """The VM as ARM returns it: the power state shows only through the instance view."""
        view = {**vm, "properties": {k: v for k, v in vm["properties"].items() if not k.startswith("_")}}
        if instance_view:
            view["properties"]["instanceView"] = VirtualMachineBackend.instance_view(vm)
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
                 "displayStatus": f"Provisioning {state.lower()}", "time": timestamp()},
                {"code": f"PowerState/{power}", "level": "Info", "displayStatus": display},
            ],
            "disks": [{"name": d["name"], "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info"}]}
                      for d in [vm["properties"]["storageProfile"]["osDisk"],
                                *vm["properties"]["storageProfile"]["dataDisks"]]],
        }

    def get_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(VIRTUAL_MACHINE, subscription_id, group, "virtualMachines", name)

    def list_virtual_machines(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(VIRTUAL_MACHINE, subscription_id, group)

    def set_power_state(self, subscription_id: str, group: str, name: str, power: str) -> dict[str, Any]:
        vm = self.get_virtual_machine(subscription_id, group, name)
        vm["properties"]["_powerState"] = power
        self.store.put(vm["id"], vm)
        return vm

    def delete_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        vm = self._find(subscription_id, group, "virtualMachines", name)
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
