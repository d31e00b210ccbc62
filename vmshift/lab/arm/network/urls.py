"""Route table for Microsoft.Network's virtual networks (subnets, peerings), NICs and private endpoints; each
route's resource type says which api-versions it takes (api_versions.py)."""

from collections.abc import Callable

from vmshift.lab.arm.network.responses import NetworkResponse as R
from vmshift.lab.arm.routing import ArmResponse, Route

_SUB = "/subscriptions/{subscriptionId}/providers/Microsoft.Network"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
_VNET = _RG + "/virtualNetworks/{virtualNetworkName}"
_PEERING = _VNET + "/virtualNetworkPeerings/{virtualNetworkPeeringName}"
_NIC = _RG + "/networkInterfaces/{networkInterfaceName}"
_PE = _RG + "/privateEndpoints/{privateEndpointName}"
_ZONE_GROUP = _PE + "/privateDnsZoneGroups/{privateDnsZoneGroupName}"


def _route(method: str, template: str, handler: Callable[[R], ArmResponse], resource_type: str) -> Route:
    return Route(method, template, R.method_dispatch(handler), f"Microsoft.Network/{resource_type}")


ROUTES = [
    _route("PUT", _VNET, R.create_or_update_virtual_network, "virtualNetworks"),
    _route("GET", _VNET, R.get_virtual_network, "virtualNetworks"),
    _route("DELETE", _VNET, R.delete_virtual_network, "virtualNetworks"),
    _route("GET", _RG + "/virtualNetworks", R.list_virtual_networks, "virtualNetworks"),
    _route("GET", _SUB + "/virtualNetworks", R.list_virtual_networks, "virtualNetworks"),
    _route("PUT", _VNET + "/subnets/{subnetName}", R.create_or_update_subnet, "virtualNetworks/subnets"),
    _route("GET", _VNET + "/subnets/{subnetName}", R.get_subnet, "virtualNetworks/subnets"),
    _route("DELETE", _VNET + "/subnets/{subnetName}", R.delete_subnet, "virtualNetworks/subnets"),
    _route("GET", _VNET + "/subnets", R.list_subnets, "virtualNetworks/subnets"),
    _route("PUT", _PEERING, R.create_or_update_virtual_network_peering, "virtualNetworks/virtualNetworkPeerings"),
    _route("GET", _PEERING, R.get_virtual_network_peering, "virtualNetworks/virtualNetworkPeerings"),
    _route("DELETE", _PEERING, R.delete_virtual_network_peering, "virtualNetworks/virtualNetworkPeerings"),
    _route("GET", _VNET + "/virtualNetworkPeerings", R.list_virtual_network_peerings,
           "virtualNetworks/virtualNetworkPeerings"),
    _route("PUT", _NIC, R.create_or_update_network_interface, "networkInterfaces"),
    _route("GET", _NIC, R.get_network_interface, "networkInterfaces"),
    _route("DELETE", _NIC, R.delete_network_interface, "networkInterfaces"),
    _route("GET", _RG + "/networkInterfaces", R.list_network_interfaces, "networkInterfaces"),
    _route("GET", _SUB + "/networkInterfaces", R.list_network_interfaces, "networkInterfaces"),
    _route("PUT", _PE, R.create_or_update_private_endpoint, "privateEndpoints"),
    _route("GET", _PE, R.get_private_endpoint, "privateEndpoints"),
    _route("DELETE", _PE, R.delete_private_endpoint, "privateEndpoints"),
    _route("GET", _RG + "/privateEndpoints", R.list_private_endpoints, "privateEndpoints"),
    _route("GET", _SUB + "/privateEndpoints", R.list_private_endpoints, "privateEndpoints"),
    _route("PUT", _ZONE_GROUP, R.create_or_update_private_dns_zone_group, "privateEndpoints/privateDnsZoneGroups"),
    _route("GET", _ZONE_GROUP, R.get_private_dns_zone_group, "privateEndpoints/privateDnsZoneGroups"),
    _route("DELETE", _ZONE_GROUP, R.delete_private_dns_zone_group, "privateEndpoints/privateDnsZoneGroups"),
    _route("GET", _PE + "/privateDnsZoneGroups", R.list_private_dns_zone_groups,
           "privateEndpoints/privateDnsZoneGroups"),
]
