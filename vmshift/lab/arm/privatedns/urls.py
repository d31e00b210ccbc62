"""Route table for Microsoft.Network/privateDnsZones; each route's resource type says which api-versions it
takes (api_versions.py).

Link routes come before record-set routes: '/virtualNetworkLinks/x' would otherwise read as a record type.
"""

from collections.abc import Callable

from vmshift.lab.arm.privatedns.responses import PrivateDnsResponse as R
from vmshift.lab.arm.routing import ArmResponse, Route

_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
_ZONE = _RG + "/privateDnsZones/{privateZoneName}"
_LINK = _ZONE + "/virtualNetworkLinks/{virtualNetworkLinkName}"
_RECORD = _ZONE + "/{recordType}/{relativeRecordSetName}"


def _route(method: str, template: str, handler: Callable[[R], ArmResponse], resource_type: str) -> Route:
    return Route(method, template, R.method_dispatch(handler), f"Microsoft.Network/privateDnsZones{resource_type}")


ROUTES = [
    _route("PUT", _ZONE, R.create_or_update_private_zone, ""),
    _route("GET", _ZONE, R.get_private_zone, ""),
    _route("DELETE", _ZONE, R.delete_private_zone, ""),
    _route("GET", _RG + "/privateDnsZones", R.list_private_zones, ""),
    _route("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.Network/privateDnsZones",
           R.list_private_zones, ""),
    _route("PUT", _LINK, R.create_or_update_virtual_network_link, "/virtualNetworkLinks"),
    _route("GET", _LINK, R.get_virtual_network_link, "/virtualNetworkLinks"),
    _route("DELETE", _LINK, R.delete_virtual_network_link, "/virtualNetworkLinks"),
    _route("GET", _ZONE + "/virtualNetworkLinks", R.list_virtual_network_links, "/virtualNetworkLinks"),
    _route("GET", _ZONE + "/ALL", R.list_record_sets, "/ALL"),
    _route("GET", _ZONE + "/recordsets", R.list_record_sets, "/ALL"),
    _route("PUT", _RECORD, R.create_or_update_record_set, "/{recordType}"),
    _route("GET", _RECORD, R.get_record_set, "/{recordType}"),
    _route("DELETE", _RECORD, R.delete_record_set, "/{recordType}"),
    _route("GET", _ZONE + "/{recordType}", R.list_record_sets_by_type, "/{recordType}"),
]
