"""HTTP for Microsoft.Network: virtual networks, subnets, NICs, private endpoints, private DNS zone groups."""

from __future__ import annotations

from vmshift.lab.arm import lro
from vmshift.lab.arm.network.models import NetworkBackend
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, listing

NAMESPACE = "Microsoft.Network"


def _backend(req: ArmRequest) -> tuple[NetworkBackend, str, str]:
    return NetworkBackend(req.simulator), req.params["subscriptionId"], req.params["resourceGroupName"]


def _deleted(req: ArmRequest, found: object, location: str = "global") -> ArmResponse:
    """ARM answers DELETE of something absent with 204, of something present with an operation."""
    return lro.accepted_action(req, NAMESPACE, location) if found else ArmResponse(204)


def create_or_update_virtual_network(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    vnet, created = backend.create_or_update_virtual_network(sub, group, req.params["virtualNetworkName"],
                                                             req.json())
    return lro.accepted_put(req, NAMESPACE, vnet["id"], vnet, created, vnet["location"])


def get_virtual_network(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_virtual_network(sub, group, req.params["virtualNetworkName"]))


def list_virtual_networks(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_virtual_networks(sub, group))


def delete_virtual_network(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return _deleted(req, backend.delete_virtual_network(sub, group, req.params["virtualNetworkName"]))


def create_or_update_subnet(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    vnet, subnet, created = backend.create_or_update_subnet(sub, group, req.params["virtualNetworkName"],
                                                            req.params["subnetName"], req.json())
    req.simulator.store.put(vnet["id"], vnet)
    return lro.accepted_put(req, NAMESPACE, subnet["id"], subnet, created, vnet["location"], store=False)


def get_subnet(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_subnet(sub, group, req.params["virtualNetworkName"],
                                               req.params["subnetName"]))


def list_subnets(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.get_virtual_network(sub, group, req.params["virtualNetworkName"])
                   ["properties"]["subnets"])


def create_or_update_network_interface(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    nic, created = backend.create_or_update_network_interface(sub, group, req.params["networkInterfaceName"],
                                                              req.json())
    return lro.accepted_put(req, NAMESPACE, nic["id"], nic, created, nic["location"])


def get_network_interface(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_network_interface(sub, group, req.params["networkInterfaceName"]))


def list_network_interfaces(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_network_interfaces(sub, group))


def delete_subnet(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return _deleted(req, backend.delete_subnet(sub, group, req.params["virtualNetworkName"],
                                               req.params["subnetName"]))


def delete_network_interface(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return _deleted(req, backend.delete_network_interface(sub, group, req.params["networkInterfaceName"]))


def create_or_update_private_endpoint(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    endpoint, created = backend.create_or_update_private_endpoint(sub, group, req.params["privateEndpointName"],
                                                                  req.json())
    response = lro.accepted_put(req, NAMESPACE, endpoint["id"], endpoint, created, endpoint["location"])
    response.body = backend.get_private_endpoint(sub, group, req.params["privateEndpointName"])
    return response


def get_private_endpoint(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_private_endpoint(sub, group, req.params["privateEndpointName"]))


def list_private_endpoints(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_private_endpoints(sub, group))


def delete_private_endpoint(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return _deleted(req, backend.delete_private_endpoint(sub, group, req.params["privateEndpointName"]))


def create_or_update_private_dns_zone_group(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    zone_group, created = backend.create_or_update_private_dns_zone_group(
        sub, group, req.params["privateEndpointName"], req.params["privateDnsZoneGroupName"], req.json())
    return lro.accepted_put(req, NAMESPACE, zone_group["id"], zone_group, created)


def get_private_dns_zone_group(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_private_dns_zone_group(sub, group, req.params["privateEndpointName"],
                                                               req.params["privateDnsZoneGroupName"]))


def list_private_dns_zone_groups(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_private_dns_zone_groups(sub, group, req.params["privateEndpointName"]))


def delete_private_dns_zone_group(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return _deleted(req, backend.delete_private_dns_zone_group(sub, group, req.params["privateEndpointName"],
                                                               req.params["privateDnsZoneGroupName"]))
