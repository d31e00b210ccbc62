"""HTTP for Microsoft.SqlVirtualMachine/sqlVirtualMachines."""

from __future__ import annotations

from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse
from vmshift.lab.arm.sqlvirtualmachine.models import SqlVirtualMachineBackend


class SqlVirtualMachineResponse(BaseResponse[SqlVirtualMachineBackend]):
    backend_class = SqlVirtualMachineBackend

    def create_or_update_sql_virtual_machine(self) -> ArmResponse:
        sql_vm, created = self.backend.create_or_update_sql_virtual_machine(
            self.subscription_id, self.group, self.param("sqlVirtualMachineName"), self.body)
        return self.accepted_put(sql_vm, created, sql_vm["location"])

    def get_sql_virtual_machine(self) -> ArmResponse:
        return self.ok(self.backend.get_sql_virtual_machine(self.subscription_id, self.group,
                                                            self.param("sqlVirtualMachineName")))

    def list_sql_virtual_machines(self) -> ArmResponse:
        return self.listing(self.backend.list_sql_virtual_machines(self.subscription_id, self.group_if_any))

    def delete_sql_virtual_machine(self) -> ArmResponse:
        return self.deleted(self.backend.delete_sql_virtual_machine(self.subscription_id, self.group,
                                                                    self.param("sqlVirtualMachineName")))
