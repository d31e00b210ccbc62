"""Private DNS for the blob endpoint: the privatelink zone, its link to the VNet, the endpoint's zone group."""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id
from azure.mgmt.network.models import PrivateDnsZoneGroup

from vmshift.azure.built import PRIVATE_DNS_CLEAN_UP, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.endpoint import PrivateEndpointInfo

BLOB_ZONE = "privatelink.blob.core.windows.net"
ZONE_GROUP = "default"


@dataclass(frozen=True)
class PrivateDnsSetup:
    zone_id: str
    link_id: str
    zone_group_id: str


@dataclass(frozen=True)
class ZoneView:
    """What ARM says about the zone, to tell the DNS gate's failures apart."""

    zone_exists: bool
    linked: bool
    record_addresses: tuple[str, ...]


def ensure_private_dns(
    clients: AzureClients,
    endpoint: PrivateEndpointInfo,
    *,
    zone_resource_group: str,
    vnet_id: str,
    tags: dict[str, str] | None = None,
) -> PrivateDnsSetup:
    """Zone, link to the appliance's VNet and zone group, reusing whatever already exists. The endpoint's zone group
    and its A record in the zone (which the DNS gate reads before every cycle) are read before anything is built,
    so that an identity that may not read them builds nothing; a refusal after that names what exists: the
    endpoint, its network interface, and the zone and link this made."""
    built = [endpoint.id, endpoint.nic_id]
    with naming_what_exists(f"the private DNS of private endpoint {endpoint.name}", built, PRIVATE_DNS_CLEAN_UP):
        zone_group = _zone_group(clients, endpoint)
        # The DNS gate's read of the account's record, made here for the refusal alone: its answer is not needed.
        _record_addresses(clients, zone_resource_group, parse_resource_id(endpoint.account_id)["name"])
        zone_id = _ensure_zone(clients, zone_resource_group, tags or {}, built)
        link_id = _ensure_link(clients, zone_resource_group, vnet_id, tags or {}, built)
        zone_group_id = _ensure_zone_group(clients, endpoint, zone_id, zone_group)
    return PrivateDnsSetup(zone_id=zone_id, link_id=link_id, zone_group_id=zone_group_id)


def zone_view(clients: AzureClients, *, zone_resource_group: str, vnet_id: str, account_name: str) -> ZoneView:
    """Whether the zone exists, is linked to the VNet, and which addresses it holds for the account."""
    try:
        clients.privatedns.private_zones.get(zone_resource_group, BLOB_ZONE)
    except ResourceNotFoundError:
        return ZoneView(zone_exists=False, linked=False, record_addresses=())
    linked = _link_to(clients, zone_resource_group, vnet_id) is not None
    return ZoneView(zone_exists=True, linked=linked,
                    record_addresses=_record_addresses(clients, zone_resource_group, account_name))


def _record_addresses(clients: AzureClients, resource_group: str, account_name: str) -> tuple[str, ...]:
    """The addresses of the account's A record in the zone; none when there is no record (or no zone)."""
    try:
        record = clients.privatedns.record_sets.get(resource_group, BLOB_ZONE, "A", account_name)
    except ResourceNotFoundError:
        return ()
    return tuple(a.ipv4_address for a in record.properties.a_records or [])


def _ensure_zone(clients: AzureClients, resource_group: str, tags: dict[str, str], built: list[str]) -> str:
    try:
        return clients.privatedns.private_zones.get(resource_group, BLOB_ZONE).id
    except ResourceNotFoundError:
        body = {"location": "global", "tags": tags}
        built.append(clients.privatedns.private_zones.begin_create_or_update(resource_group, BLOB_ZONE, body)
                     .result().id)
        return built[-1]


def _link_to(clients: AzureClients, resource_group: str, vnet_id: str) -> str | None:
    for link in clients.privatedns.virtual_network_links.list(resource_group, BLOB_ZONE):
        if link.properties.virtual_network.id.lower() == vnet_id.lower():
            return link.id
    return None


def _ensure_link(clients: AzureClients, resource_group: str, vnet_id: str, tags: dict[str, str],
                 built: list[str]) -> str:
    existing = _link_to(clients, resource_group, vnet_id)
    if existing:
        return existing
    vnet_name = parse_resource_id(vnet_id)["name"]
    body = {
        "location": "global",
        "tags": tags,
        "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": False},
    }
    link = clients.privatedns.virtual_network_links.begin_create_or_update(
        resource_group, BLOB_ZONE, f"link-{vnet_name}", body
    ).result()
    built.append(link.id)
    return link.id


def _zone_group(clients: AzureClients, endpoint: PrivateEndpointInfo) -> PrivateDnsZoneGroup | None:
    parts = parse_resource_id(endpoint.id)
    try:
        return clients.network.private_dns_zone_groups.get(parts["resource_group"], endpoint.name, ZONE_GROUP)
    except ResourceNotFoundError:
        return None


def _ensure_zone_group(clients: AzureClients, endpoint: PrivateEndpointInfo, zone_id: str,
                       group: PrivateDnsZoneGroup | None) -> str:
    """The endpoint's zone group, naming the zone; `group`: the one it has."""
    if group is not None:
        configs = group.properties.private_dns_zone_configs or []
        if any(c.properties.private_dns_zone_id.lower() == zone_id.lower() for c in configs):
            return group.id
    parts = parse_resource_id(endpoint.id)
    groups = clients.network.private_dns_zone_groups
    body = {
        "properties": {
            "privateDnsZoneConfigs": [
                {"name": BLOB_ZONE.replace(".", "-"), "properties": {"privateDnsZoneId": zone_id}}
            ]
        }
    }
    return groups.begin_create_or_update(parts["resource_group"], endpoint.name, ZONE_GROUP, body).result().id
