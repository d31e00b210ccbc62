"""Route table for Microsoft.Storage (azure-mgmt-storage 25.3 sends api-version 2026-09-01)."""

from vmshift.lab.arm.routing import Handler, Route
from vmshift.lab.arm.storage import responses as r

API_VERSIONS = ("2026-09-01",)
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage"
_ACCOUNT = _RG + "/storageAccounts/{accountName}"
_CONNECTION = _ACCOUNT + "/privateEndpointConnections/{privateEndpointConnectionName}"


def _route(method: str, template: str, handler: Handler) -> Route:
    return Route(method, template, handler, API_VERSIONS, "Microsoft.Storage")


ROUTES = [
    _route("PUT", _ACCOUNT, r.create),
    _route("PATCH", _ACCOUNT, r.update),
    _route("GET", _ACCOUNT, r.get_properties),
    _route("DELETE", _ACCOUNT, r.delete),
    _route("GET", _RG + "/storageAccounts", r.list_by_resource_group),
    _route("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.Storage/storageAccounts", r.list_accounts),
    _route("POST", _ACCOUNT + "/listKeys", r.list_keys),
    _route("GET", _ACCOUNT + "/privateEndpointConnections", r.list_private_endpoint_connections),
    _route("GET", _CONNECTION, r.get_private_endpoint_connection),
    _route("PUT", _CONNECTION, r.put_private_endpoint_connection),
    _route("DELETE", _CONNECTION, r.delete_private_endpoint_connection),
]
