"""Route table for Microsoft.Storage; each route's resource type says which api-versions it takes
(api_versions.py)."""

from collections.abc import Callable

from vmshift.lab.arm.routing import ArmResponse, Route
from vmshift.lab.arm.storage.responses import StorageResponse as R

_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage"
_ACCOUNT = _RG + "/storageAccounts/{accountName}"
_CONNECTION = _ACCOUNT + "/privateEndpointConnections/{privateEndpointConnectionName}"
_CONNECTIONS = "storageAccounts/privateEndpointConnections"


def _route(method: str, template: str, handler: Callable[[R], ArmResponse], resource_type: str) -> Route:
    return Route(method, template, R.method_dispatch(handler), f"Microsoft.Storage/{resource_type}")


ROUTES = [
    _route("POST", "/subscriptions/{subscriptionId}/providers/Microsoft.Storage/checkNameAvailability",
           R.check_name_availability, "checkNameAvailability"),
    _route("PUT", _ACCOUNT, R.create, "storageAccounts"),
    _route("PATCH", _ACCOUNT, R.update, "storageAccounts"),
    _route("GET", _ACCOUNT, R.get_properties, "storageAccounts"),
    _route("DELETE", _ACCOUNT, R.delete, "storageAccounts"),
    _route("GET", _RG + "/storageAccounts", R.list_accounts, "storageAccounts"),
    _route("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.Storage/storageAccounts", R.list_accounts,
           "storageAccounts"),
    _route("POST", _ACCOUNT + "/listKeys", R.list_keys, "storageAccounts"),
    _route("GET", _ACCOUNT + "/privateEndpointConnections", R.list_private_endpoint_connections, _CONNECTIONS),
    _route("GET", _CONNECTION, R.get_private_endpoint_connection, _CONNECTIONS),
    _route("PUT", _CONNECTION, R.put_private_endpoint_connection, _CONNECTIONS),
    _route("DELETE", _CONNECTION, R.delete_private_endpoint_connection, _CONNECTIONS),
]
