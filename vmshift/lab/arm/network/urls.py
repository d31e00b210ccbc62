"""Route table for Microsoft.Network (azure-mgmt-network 33.1 sends api-version 2026-03-01)."""

from vmshift.lab.arm.network import responses as r
from vmshift.lab.arm.routing import Handler, Route

API_VERSIONS = ("2026-03-01",)
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
_VNET = _RG + "/virtualNetworks/{virtualNetworkName}"
_NIC = _RG + "/networkInterfaces/{networkInterfaceName}"
_PE = _RG + "/privateEndpoints/{privateEndpointName}"
_ZONE_GROUP = _PE + "/privateDnsZoneGroups/{privateDnsZoneGroupName}"


def _route(method: str, template: str, handler: Handler) -> Route:
    return Route(method, template, handler, API_VERSIONS, "Microsoft.Network")


ROUTES = [
    _route("PUT", _VNET, r.create_or_update_virtual_network),
    _route("GET", _VNET, r.get_virtual_network),
    _route("DELETE", _VNET, r.delete_virtual_network),
    _route("GET", _RG + "/virtualNetworks", r.list_virtual_networks),
    _route("PUT", _VNET + "/subnets/{subnetName}", r.create_or_update_subnet),
    _route("GET", _VNET + "/subnets/{subnetName}", r.get_subnet),
    _route("DELETE", _VNET + "/subnets/{subnetName}", r.delete_subnet),
    _route("GET", _VNET + "/subnets", r.list_subnets),
    _route("PUT", _NIC, r.create_or_update_network_interface),
    _route("GET", _NIC, r.get_network_interface),
    _route("DELETE", _NIC, r.delete_network_interface),
    _route("GET", _RG + "/networkInterfaces", r.list_network_interfaces),
    _route("PUT", _PE, r.create_or_update_private_endpoint),
    _route("GET", _PE, r.get_private_endpoint),
    _route("DELETE", _PE, r.delete_private_endpoint),
    _route("GET", _RG + "/privateEndpoints", r.list_private_endpoints),
    _route("PUT", _ZONE_GROUP, r.create_or_update_private_dns_zone_group),
    _route("GET", _ZONE_GROUP, r.get_private_dns_zone_group),
    _route("DELETE", _ZONE_GROUP, r.delete_private_dns_zone_group),
    _route("GET", _PE + "/privateDnsZoneGroups", r.list_private_dns_zone_groups),
]
