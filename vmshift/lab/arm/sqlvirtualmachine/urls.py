"""Route table for Microsoft.SqlVirtualMachine/sqlVirtualMachines (sqlvm.json; azure-mgmt-sqlvirtualmachine 1.0
sends 2023-10-01)."""

from collections.abc import Callable

from vmshift.lab.arm.routing import ArmResponse, Route
from vmshift.lab.arm.sqlvirtualmachine.responses import SqlVirtualMachineResponse as R

_TYPE = "Microsoft.SqlVirtualMachine/sqlVirtualMachines"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.SqlVirtualMachine"
_SQL_VM = _RG + "/sqlVirtualMachines/{sqlVirtualMachineName}"


def _route(method: str, template: str, handler: Callable[[R], ArmResponse]) -> Route:
    return Route(method, template, R.method_dispatch(handler), _TYPE)


ROUTES = [
    _route("PUT", _SQL_VM, R.create_or_update_sql_virtual_machine),
    _route("GET", _SQL_VM, R.get_sql_virtual_machine),
    _route("DELETE", _SQL_VM, R.delete_sql_virtual_machine),
    _route("GET", _RG + "/sqlVirtualMachines", R.list_sql_virtual_machines),
    _route("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines",
           R.list_sql_virtual_machines),
]
