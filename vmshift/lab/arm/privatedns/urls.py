"""Route table for Microsoft.Network/privateDnsZones (azure-mgmt-privatedns 2.0 sends api-version 2024-06-01).

Link routes come before record-set routes: '/virtualNetworkLinks/x' would otherwise read as a record type.
"""

from vmshift.lab.arm.privatedns import responses as r
from vmshift.lab.arm.routing import Handler, Route

API_VERSIONS = ("2024-06-01",)
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
_ZONE = _RG + "/privateDnsZones/{privateZoneName}"
_LINK = _ZONE + "/virtualNetworkLinks/{virtualNetworkLinkName}"
_RECORD = _ZONE + "/{recordType}/{relativeRecordSetName}"


def _route(method: str, template: str, handler: Handler) -> Route:
    return Route(method, template, handler, API_VERSIONS, "Microsoft.Network")


ROUTES = [
    _route("PUT", _ZONE, r.create_or_update_private_zone),
    _route("GET", _ZONE, r.get_private_zone),
    _route("DELETE", _ZONE, r.delete_private_zone),
    _route("GET", _RG + "/privateDnsZones", r.list_private_zones_by_group),
    _route("GET", "/subscriptions/{subscriptionId}/providers/Microsoft.Network/privateDnsZones",
           r.list_private_zones),
    _route("PUT", _LINK, r.create_or_update_virtual_network_link),
    _route("GET", _LINK, r.get_virtual_network_link),
    _route("DELETE", _LINK, r.delete_virtual_network_link),
    _route("GET", _ZONE + "/virtualNetworkLinks", r.list_virtual_network_links),
    _route("GET", _ZONE + "/ALL", r.list_record_sets),
    _route("GET", _ZONE + "/recordsets", r.list_record_sets),
    _route("PUT", _RECORD, r.create_or_update_record_set),
    _route("GET", _RECORD, r.get_record_set),
    _route("DELETE", _RECORD, r.delete_record_set),
    _route("GET", _ZONE + "/{recordType}", r.list_record_sets_by_type),
]
