"""The SQL Server VM resource (Microsoft.SqlVirtualMachine/sqlVirtualMachines) that carries a migrated VM's SQL
Server licence, as Azure Migrate registers it when a plan gives SqlServerLicenseType.

It is a resource of its own, named as the VM, in the VM's resource group and region, pointing at the VM by ID;
Azure takes it for a Windows VM only (NotSupportedSqlVmOSVersion).
"""

from __future__ import annotations

from collections.abc import Mapping

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.sqlvirtualmachine.models import SqlVirtualMachine

from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import BuildInputInvalid

SQL_LICENSES = ("PAYG", "AHUB", "DR")


def ensure_sql_vm(clients: AzureClients, *, vm_id: str, vm_name: str, resource_group: str, region: str,
                  license_type: str, tags: Mapping[str, str], source_vm: str) -> SqlVirtualMachine:
    """The VM's SQL Server VM resource with `license_type`; an existing one keeps its ID, and its licence is set."""
    if license_type not in SQL_LICENSES:
        raise BuildInputInvalid(source_vm, "sql_license", f"{license_type!r}: one of {', '.join(SQL_LICENSES)}")
    operations = clients.sql_virtual_machines.sql_virtual_machines
    try:
        existing = operations.get(resource_group, vm_name)
        if existing.properties.sql_server_license_type == license_type:
            return existing
    except ResourceNotFoundError:
        pass
    body = {"location": region, "tags": dict(tags),
            "properties": {"virtualMachineResourceId": vm_id, "sqlServerLicenseType": license_type,
                           "sqlManagement": "Full"}}
    return operations.begin_create_or_update(resource_group, vm_name, body).result()
