"""HTTP for Microsoft.Network: virtual networks, subnets, peerings, NICs, private endpoints, private DNS zone groups."""

from __future__ import annotations

from vmshift.lab.arm.network.models import NetworkBackend
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse


class NetworkResponse(BaseResponse[NetworkBackend]):
    backend_class = NetworkBackend

    def create_or_update_virtual_network(self) -> ArmResponse:
        vnet, created = self.backend.create_or_update_virtual_network(
            self.subscription_id, self.group, self.param("virtualNetworkName"), self.body)
        return self.accepted_put(vnet, created, vnet["location"])

    def get_virtual_network(self) -> ArmResponse:
        return self.ok(self.backend.get_virtual_network(self.subscription_id, self.group,
                                                        self.param("virtualNetworkName")))

    def list_virtual_networks(self) -> ArmResponse:
        return self.listing(self.backend.list_virtual_networks(self.subscription_id, self.group_if_any))

    def delete_virtual_network(self) -> ArmResponse:
        return self.deleted(self.backend.delete_virtual_network(self.subscription_id, self.group,
                                                                self.param("virtualNetworkName")))

    def create_or_update_subnet(self) -> ArmResponse:
        vnet, subnet, created = self.backend.create_or_update_subnet(
            self.subscription_id, self.group, self.param("virtualNetworkName"), self.param("subnetName"), self.body)
        self.backend.store.put(vnet["id"], vnet)
        return self.accepted_put(subnet, created, vnet["location"], store=False)

    def get_subnet(self) -> ArmResponse:
        return self.ok(self.backend.get_subnet(self.subscription_id, self.group, self.param("virtualNetworkName"),
                                               self.param("subnetName")))

    def list_subnets(self) -> ArmResponse:
        vnet = self.backend.get_virtual_network(self.subscription_id, self.group, self.param("virtualNetworkName"))
        return self.listing(vnet["properties"]["subnets"])

    def delete_subnet(self) -> ArmResponse:
        vnet = self.backend.get_virtual_network(self.subscription_id, self.group, self.param("virtualNetworkName"))
        return self.deleted(self.backend.delete_subnet(self.subscription_id, self.group,
                                                       self.param("virtualNetworkName"), self.param("subnetName")),
                            vnet["location"])

    def create_or_update_virtual_network_peering(self) -> ArmResponse:
        vnet, peering, created = self.backend.create_or_update_peering(
            self.subscription_id, self.group, self.param("virtualNetworkName"),
            self.param("virtualNetworkPeeringName"), self.body)
        return self.accepted_put(peering, created, vnet["location"], store=False)

    def get_virtual_network_peering(self) -> ArmResponse:
        return self.ok(self.backend.get_peering(self.subscription_id, self.group, self.param("virtualNetworkName"),
                                                self.param("virtualNetworkPeeringName")))

    def list_virtual_network_peerings(self) -> ArmResponse:
        vnet = self.backend.get_virtual_network(self.subscription_id, self.group, self.param("virtualNetworkName"))
        return self.listing(vnet["properties"]["virtualNetworkPeerings"])

    def delete_virtual_network_peering(self) -> ArmResponse:
        vnet = self.backend.get_virtual_network(self.subscription_id, self.group, self.param("virtualNetworkName"))
        return self.deleted(self.backend.delete_peering(self.subscription_id, self.group,
                                                        self.param("virtualNetworkName"),
                                                        self.param("virtualNetworkPeeringName")),
                            vnet["location"])

    def create_or_update_network_interface(self) -> ArmResponse:
        nic, created = self.backend.create_or_update_network_interface(
            self.subscription_id, self.group, self.param("networkInterfaceName"), self.body)
        return self.accepted_put(nic, created, nic["location"])

    def get_network_interface(self) -> ArmResponse:
        return self.ok(self.backend.get_network_interface(self.subscription_id, self.group,
                                                          self.param("networkInterfaceName")))

    def list_network_interfaces(self) -> ArmResponse:
        return self.listing(self.backend.list_network_interfaces(self.subscription_id, self.group_if_any))

    def delete_network_interface(self) -> ArmResponse:
        return self.deleted(self.backend.delete_network_interface(self.subscription_id, self.group,
                                                                  self.param("networkInterfaceName")))

    def create_or_update_private_endpoint(self) -> ArmResponse:
        name = self.param("privateEndpointName")
        endpoint, created = self.backend.create_or_update_private_endpoint(self.subscription_id, self.group, name,
                                                                           self.body)
        response = self.accepted_put(endpoint, created, endpoint["location"])
        response.body = self.backend.get_private_endpoint(self.subscription_id, self.group, name)
        return response

    def get_private_endpoint(self) -> ArmResponse:
        return self.ok(self.backend.get_private_endpoint(self.subscription_id, self.group,
                                                         self.param("privateEndpointName")))

    def list_private_endpoints(self) -> ArmResponse:
        return self.listing(self.backend.list_private_endpoints(self.subscription_id, self.group_if_any))

    def delete_private_endpoint(self) -> ArmResponse:
        return self.deleted(self.backend.delete_private_endpoint(self.subscription_id, self.group,
                                                                 self.param("privateEndpointName")))

    def create_or_update_private_dns_zone_group(self) -> ArmResponse:
        zone_group, created = self.backend.create_or_update_private_dns_zone_group(
            self.subscription_id, self.group, self.param("privateEndpointName"),
            self.param("privateDnsZoneGroupName"), self.body)
        return self.accepted_put(zone_group, created)

    def get_private_dns_zone_group(self) -> ArmResponse:
        return self.ok(self.backend.get_private_dns_zone_group(
            self.subscription_id, self.group, self.param("privateEndpointName"),
            self.param("privateDnsZoneGroupName")))

    def list_private_dns_zone_groups(self) -> ArmResponse:
        return self.listing(self.backend.list_private_dns_zone_groups(self.subscription_id, self.group,
                                                                      self.param("privateEndpointName")))

    def delete_private_dns_zone_group(self) -> ArmResponse:
        endpoint = self.backend.get_private_endpoint(self.subscription_id, self.group,
                                                     self.param("privateEndpointName"))
        return self.deleted(self.backend.delete_private_dns_zone_group(
            self.subscription_id, self.group, self.param("privateEndpointName"),
            self.param("privateDnsZoneGroupName")), endpoint["location"])
