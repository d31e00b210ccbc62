"""Microsoft.Network: virtual networks and subnets, NICs, private endpoints and their private DNS zone groups.

One module per resource type (a private DNS zone group lives with its endpoint, a subnet with its
virtual network); NetworkBackend joins them. Private DNS zones are `privatedns/`.
"""

from vmshift.lab.arm.network.models.network_interfaces import NETWORK_INTERFACE, NetworkInterfaceBackend, nic_user
from vmshift.lab.arm.network.models.private_endpoints import PRIVATE_ENDPOINT, ZONE_GROUP, PrivateEndpointBackend
from vmshift.lab.arm.network.models.virtual_networks import SUBNET, VIRTUAL_NETWORK, VirtualNetworkBackend

__all__ = ["NETWORK_INTERFACE", "PRIVATE_ENDPOINT", "SUBNET", "VIRTUAL_NETWORK", "ZONE_GROUP", "NetworkBackend",
           "nic_user"]


class NetworkBackend(VirtualNetworkBackend, NetworkInterfaceBackend, PrivateEndpointBackend):
    namespace = "Microsoft.Network"
