"""SQL virtual machines (sqlvm.json, 2023-10-01): one per Azure VM, of the same name and group, holding its
SQL Server licence type; refused, with the codes the REST spec lists, for a VM that is missing, not Windows,
or not running."""

from __future__ import annotations

from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.compute.models import VIRTUAL_MACHINE
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.wire import arm_resource

SQL_VIRTUAL_MACHINE = "Microsoft.SqlVirtualMachine/sqlVirtualMachines"
LICENSE_TYPES = ("PAYG", "AHUB", "DR")
MANAGEMENT_MODES = ("Full", "LightWeight", "NoAgent")


class SqlVirtualMachineBackend(BaseBackend):
    namespace = "Microsoft.SqlVirtualMachine"

    def create_or_update_sql_virtual_machine(self, subscription_id: str, group: str, name: str,
                                             body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "sqlVirtualMachines", name, body)
        properties = body.get("properties") or {}
        vm = self._virtual_machine(subscription_id, group, name, properties.get("virtualMachineResourceId"))
        if vm["location"] != location:
            raise ArmError(400, "InvalidParameterValue", f"The location '{location}' of the SQL virtual machine "
                                                         f"is not '{vm['location']}', its virtual machine's.")
        if vm["properties"]["storageProfile"]["osDisk"]["osType"] != "Windows":
            raise ArmError(400, "NotSupportedSqlVmOSVersion", "Virtual machine OS type is not Windows. Only Windows "
                                                              "OS versions are supported")
        if vm["properties"].get("_powerState", "running") != "running":
            raise ArmError(400, "VmNotRunning", "The VM is not in running state.")
        license_type = properties.get("sqlServerLicenseType") or (existing or {}).get(
            "properties", {}).get("sqlServerLicenseType") or "PAYG"
        management = properties.get("sqlManagement") or "Full"
        for field, value, allowed in (("sqlServerLicenseType", license_type, LICENSE_TYPES),
                                      ("sqlManagement", management, MANAGEMENT_MODES)):
            if value not in allowed:
                raise ArmError(400, "InvalidParameterValue", f"An invalid value '{value}' was given to parameter "
                                                             f"'{field}'; allowed: {', '.join(allowed)}.",
                               f"properties.{field}")
        sql_vm = arm_resource(resource_id, SQL_VIRTUAL_MACHINE, location, {
            "virtualMachineResourceId": vm["id"],
            "sqlServerLicenseType": license_type,
            "sqlManagement": management,
            "sqlImageSku": (existing or {}).get("properties", {}).get("sqlImageSku", "Unknown"),
            "leastPrivilegeMode": "NotSet",
            "enableAutomaticUpgrade": True,
        }, body.get("tags"))
        return sql_vm, existing is None

    def _virtual_machine(self, subscription_id: str, group: str, name: str, vm_id: Any) -> dict[str, Any]:
        """The VM a SQL virtual machine names: same subscription, group and name, or the spec's refusals."""
        parts = vm_id.strip("/").split("/") if isinstance(vm_id, str) else []
        if len(parts) != 8 or [parts[i].lower() for i in (0, 2, 4, 5, 6)] != [
                "subscriptions", "resourcegroups", "providers", "microsoft.compute", "virtualmachines"]:
            raise ArmError(400, "InvalidVmResourceIdParameterValue", "Provided virtual machine resource id is not "
                                                                     "valid.", "properties.virtualMachineResourceId")
        vm_subscription, vm_group, vm_name = parts[1], parts[3], parts[7]
        if vm_subscription.lower() != subscription_id.lower():
            raise ArmError(400, "MismatchInSqlVmAndVmResourceIdSubscription", "Mismatch in subscription id for SQL "
                                                                              "virtual machine and virtual machine "
                                                                              "resource id property.")
        if vm_group.lower() != group.lower():
            raise ArmError(400, "MismatchSqlVmAndVmRgName", "SQL virtual machine resource group name is not same as "
                                                            "the virtual machine resource group name provided on "
                                                            "VirtualMachineResourceId property.")
        if vm_name.lower() != name.lower():
            raise ArmError(400, "MismatchSqlVmAndVmName", "SQL virtual machine name is not same as the virtual "
                                                          "machine name provided on VirtualMachineResourceId property.")
        vm = self.store.get(f"{self.simulator.group_scope(subscription_id, group)}/providers/Microsoft.Compute/"
                            f"virtualMachines/{vm_name}")
        if vm is None:
            raise ArmError(404, "ResourceDoesNotExist", f"Resource {VIRTUAL_MACHINE}/{vm_name} does not exist.")
        return vm

    def get_sql_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(SQL_VIRTUAL_MACHINE, subscription_id, group, "sqlVirtualMachines", name)

    def list_sql_virtual_machines(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(SQL_VIRTUAL_MACHINE, subscription_id, group)

    def delete_sql_virtual_machine(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        sql_vm = self._find(subscription_id, group, "sqlVirtualMachines", name)
        if sql_vm is not None:
            self.store.delete(sql_vm["id"])
        return sql_vm
