"""The SQL Server VM resource a migrated VM's SQL licence lives on, through azure-mgmt-sqlvirtualmachine: taken
for a running Windows VM of the same name and group, refused with the REST spec's codes otherwise."""

from __future__ import annotations

import pytest
from arm_clients import LOCATION, Arm, management_client
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.sqlvirtualmachine import SqlVirtualMachineManagementClient
from test_virtual_machines import empty_disk, nic, vm_body

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def sql(arm: Arm) -> SqlVirtualMachineManagementClient:
    return management_client(SqlVirtualMachineManagementClient, arm.lab, arm.credential)


def _vm(arm: Arm, group: str, name: str, os_type: str) -> str:
    body = vm_body(empty_disk(arm, group, f"{name}-os"), [nic(arm, group, f"{name}-nic")])
    body.storage_profile.os_disk.os_type = os_type
    return arm.compute.virtual_machines.begin_create_or_update(group, name, body).result().id


def _body(vm_id: str, licence: str = "AHUB", location: str = LOCATION) -> dict:
    return {"location": location, "properties": {"virtualMachineResourceId": vm_id, "sqlServerLicenseType": licence}}


def test_a_windows_vm_gets_its_sql_server_licence_and_can_change_it(arm, group, sql):
    vm_id = _vm(arm, group, "sqlvm1", "Windows")

    created = sql.sql_virtual_machines.begin_create_or_update(group, "sqlvm1", _body(vm_id)).result()
    assert (created.properties.sql_server_license_type, created.properties.provisioning_state) == ("AHUB",
                                                                                                   "Succeeded")
    assert created.properties.virtual_machine_resource_id.lower() == vm_id.lower()
    assert [s.name for s in sql.sql_virtual_machines.list_by_resource_group(group)] == ["sqlvm1"]
    sql.sql_virtual_machines.begin_create_or_update(group, "sqlvm1", _body(vm_id, "DR")).result()
    assert sql.sql_virtual_machines.get(group, "sqlvm1").properties.sql_server_license_type == "DR"
    sql.sql_virtual_machines.begin_delete(group, "sqlvm1").result()
    with pytest.raises(ResourceNotFoundError):
        sql.sql_virtual_machines.get(group, "sqlvm1")


def _refusal(sql, group: str, name: str, body: dict) -> str:
    with pytest.raises(HttpResponseError) as refused:
        sql.sql_virtual_machines.begin_create_or_update(group, name, body).result()
    return refused.value.error.code


def test_a_linux_vm_is_refused_as_azure_refuses_it(arm, group, sql):
    vm_id = _vm(arm, group, "sqlvm2", "Linux")

    assert _refusal(sql, group, "sqlvm2", _body(vm_id)) == "NotSupportedSqlVmOSVersion"
    assert list(sql.sql_virtual_machines.list_by_resource_group(group)) == []


def test_a_vm_that_is_missing_stopped_or_another_is_refused(arm, group, sql):
    vm_id = _vm(arm, group, "sqlvm3", "Windows")

    assert _refusal(sql, group, "sqlvm-other", _body(vm_id)) == "MismatchSqlVmAndVmName"
    assert _refusal(sql, group, "sqlvm4", _body(vm_id.replace("sqlvm3", "sqlvm4"))) == "ResourceDoesNotExist"
    assert _refusal(sql, group, "sqlvm3", _body("sqlvm3")) == "InvalidVmResourceIdParameterValue"
    assert _refusal(sql, group, "sqlvm3", _body(vm_id, "BYOL")) == "InvalidParameterValue"
    arm.compute.virtual_machines.begin_power_off(group, "sqlvm3").result()
    assert _refusal(sql, group, "sqlvm3", _body(vm_id)) == "VmNotRunning"
