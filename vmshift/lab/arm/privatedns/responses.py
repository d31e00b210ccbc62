"""HTTP for Microsoft.Network/privateDnsZones: zones, record sets, virtual network links."""

from __future__ import annotations

from vmshift.lab.arm import lro
from vmshift.lab.arm.privatedns.models import PrivateDnsBackend
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, listing

NAMESPACE = "Microsoft.Network"


def _backend(req: ArmRequest) -> tuple[PrivateDnsBackend, str, str]:
    return PrivateDnsBackend(req.simulator), req.params["subscriptionId"], req.params["resourceGroupName"]


def create_or_update_private_zone(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    zone, created = backend.create_or_update_private_zone(sub, group, req.params["privateZoneName"], req.json())
    return lro.accepted_put(req, NAMESPACE, zone["id"], zone, created)


def get_private_zone(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_private_zone(sub, group, req.params["privateZoneName"]))


def list_private_zones_by_group(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_private_zones(sub, group))


def list_private_zones(req: ArmRequest) -> ArmResponse:
    return listing(PrivateDnsBackend(req.simulator).list_private_zones(req.params["subscriptionId"], None))


def delete_private_zone(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    zone = backend.delete_private_zone(sub, group, req.params["privateZoneName"])
    return lro.accepted_action(req, NAMESPACE, "global") if zone else ArmResponse(204)


def create_or_update_record_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    record, created = backend.create_or_update_record_set(
        sub, group, req.params["privateZoneName"], req.params["recordType"], req.params["relativeRecordSetName"],
        req.json())
    return ArmResponse(201 if created else 200, record)


def get_record_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_record_set(sub, group, req.params["privateZoneName"],
                                                   req.params["recordType"], req.params["relativeRecordSetName"]))


def list_record_sets(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_record_sets(sub, group, req.params["privateZoneName"], None))


def list_record_sets_by_type(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_record_sets(sub, group, req.params["privateZoneName"], req.params["recordType"]))


def delete_record_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    backend.delete_record_set(sub, group, req.params["privateZoneName"], req.params["recordType"],
                              req.params["relativeRecordSetName"])
    return ArmResponse(200)


def create_or_update_virtual_network_link(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    link, created = backend.create_or_update_virtual_network_link(
        sub, group, req.params["privateZoneName"], req.params["virtualNetworkLinkName"], req.json())
    return lro.accepted_put(req, NAMESPACE, link["id"], link, created)


def get_virtual_network_link(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_virtual_network_link(sub, group, req.params["privateZoneName"],
                                                             req.params["virtualNetworkLinkName"]))


def list_virtual_network_links(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_virtual_network_links(sub, group, req.params["privateZoneName"]))


def delete_virtual_network_link(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    found = backend.delete_virtual_network_link(sub, group, req.params["privateZoneName"],
                                                req.params["virtualNetworkLinkName"])
    return lro.accepted_action(req, NAMESPACE, "global") if found else ArmResponse(204)
