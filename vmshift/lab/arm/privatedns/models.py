"""Microsoft.Network/privateDnsZones: zones, A and CNAME record sets, virtual network links,
and the lookup the lab's DNS server makes for a client inside a linked VNet."""

from __future__ import annotations

import re
import uuid
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError, invalid_parameter, resource_not_found
from vmshift.lab.arm.store import Store
from vmshift.lab.arm.wire import arm_resource

ZONE = "Microsoft.Network/privateDnsZones"
LINK = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT")
_ZONE_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$", re.IGNORECASE)
_RECORD_NAME = re.compile(r"^(@|\*|[A-Za-z0-9_*](?:[A-Za-z0-9_.*-]{0,251}[A-Za-z0-9_])?)$")


def _etag() -> str:
    return str(uuid.uuid4())


def _check_global(location: str | None) -> None:
    if (location or "global").lower() != "global":
        raise ArmError(400, "LocationNotAvailableForResourceType",
                       f"The provided location '{location}' is not available for resource type "
                       "'Microsoft.Network/privateDnsZones'. List of available regions for the resource type is "
                       "'global'.", "location")


class PrivateDnsBackend(BaseBackend):
    namespace = "Microsoft.Network"

    def _refresh_counts(self, zone: dict[str, Any]) -> None:
        records = [r for t in RECORD_TYPES for r in self.store.list(f"{ZONE}/{t}", zone["id"])]
        links = self.store.list(LINK, zone["id"])
        zone["properties"].update({
            "numberOfRecordSets": len(records) + 1,
            "numberOfVirtualNetworkLinks": len(links),
            "numberOfVirtualNetworkLinksWithRegistration":
                sum(1 for link in links if link["properties"]["registrationEnabled"]),
        })

    def create_or_update_private_zone(self, subscription_id: str, group: str, name: str,
                                      body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        scope = self._scope(subscription_id, group)
        if not _ZONE_NAME.match(name):
            raise ArmError(400, "InvalidResourceName", f"The zone name '{name}' is not a valid DNS name.")
        _check_global(body.get("location"))
        resource_id = f"{scope}/privateDnsZones/{name}"
        existing = self.store.get(resource_id)
        zone = arm_resource(resource_id, ZONE, "global", {
            "maxNumberOfRecordSets": 25000, "maxNumberOfVirtualNetworkLinks": 1000,
            "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
            "internalId": existing["properties"]["internalId"] if existing else str(uuid.uuid4()),
        }, body.get("tags"), etag=_etag())
        self._refresh_counts(zone)
        return zone, existing is None

    def get_private_zone(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        zone = self._get(ZONE, subscription_id, group, "privateDnsZones", name)
        self._refresh_counts(zone)
        return zone

    def list_private_zones(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(ZONE, subscription_id, group)

    def delete_private_zone(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        zone = self._find(subscription_id, group, "privateDnsZones", name)
        if zone is None:
            return None
        if self.store.list(LINK, zone["id"]):
            raise ArmError(400, "CannotDeleteResource",
                           f"You cannot delete a Private DNS zone '{name}' that has virtual network links. "
                           "Delete the virtual network links first.")
        self.store.delete_under(zone["id"])
        self.store.delete(zone["id"])
        return zone

    # --- record sets -------------------------------------------------------------------------------

    def create_or_update_record_set(self, subscription_id: str, group: str, zone_name: str, record_type: str,
                                    name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        record_type = self._record_type(record_type)
        if not _RECORD_NAME.match(name):
            raise ArmError(400, "InvalidRecordSetName", f"The record set name '{name}' is not valid.")
        properties = body.get("properties") or {}
        if record_type == "CNAME" and not (properties.get("cnameRecord") or {}).get("cname"):
            raise invalid_parameter("A CNAME record set needs cnameRecord.cname.", "properties.cnameRecord")
        if record_type == "A":
            for record in properties.get("aRecords") or []:
                if not re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}", record.get("ipv4Address", "")):
                    raise invalid_parameter(f"'{record.get('ipv4Address')}' is not a valid IPv4 address.",
                                            "properties.aRecords")
        return self.write_record_set(zone, record_type, name, properties)

    def write_record_set(self, zone: dict[str, Any], record_type: str, name: str,
                         properties: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a record set; a private DNS zone group writes its A records through here too."""
        resource_id = f"{zone['id']}/{record_type}/{name}"
        existing = self.store.get(resource_id)
        fqdn = f"{zone['name']}." if name == "@" else f"{name}.{zone['name']}."
        stored: dict[str, Any] = {"ttl": properties.get("ttl", 3600), "fqdn": fqdn, "isAutoRegistered": False,
                                  "metadata": properties.get("metadata") or {}}
        for key in ("aRecords", "aaaaRecords", "cnameRecord", "mxRecords", "ptrRecords", "srvRecords",
                    "txtRecords", "soaRecord"):
            if key in properties:
                stored[key] = properties[key]
        record = {"id": resource_id, "name": name, "type": f"{ZONE}/{record_type}", "etag": _etag(),
                  "properties": stored}
        self.store.put(resource_id, record)
        return record, existing is None

    @staticmethod
    def _record_type(record_type: str) -> str:
        normal = record_type.upper()
        if normal not in RECORD_TYPES:
            raise invalid_parameter(f"The record type '{record_type}' is not supported.", "recordType")
        return normal

    def get_record_set(self, subscription_id: str, group: str, zone_name: str, record_type: str,
                       name: str) -> dict[str, Any]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        record = self.store.get(f"{zone['id']}/{self._record_type(record_type)}/{name}")
        if record is None:
            raise ArmError(404, "NotFound", f"The resource record '{name}' does not exist in resource group "
                                            f"'{group}' of subscription '{subscription_id}'.")
        return record

    def list_record_sets(self, subscription_id: str, group: str, zone_name: str,
                         record_type: str | None) -> list[dict[str, Any]]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        types = [self._record_type(record_type)] if record_type else list(RECORD_TYPES)
        return [r for t in types for r in self.store.list(f"{ZONE}/{t}", zone["id"])]

    def delete_record_set(self, subscription_id: str, group: str, zone_name: str, record_type: str,
                          name: str) -> None:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        self.store.delete(f"{zone['id']}/{self._record_type(record_type)}/{name}")

    # --- virtual network links ---------------------------------------------------------------------

    def create_or_update_virtual_network_link(self, subscription_id: str, group: str, zone_name: str, name: str,
                                              body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        _check_global(body.get("location"))
        properties = body.get("properties") or {}
        vnet_id = (properties.get("virtualNetwork") or {}).get("id")
        vnet = self.store.get(vnet_id) if vnet_id else None
        if vnet is None:
            raise ArmError(400, "InvalidResourceReference",
                           f"Virtual network resource '{vnet_id}' referenced by the link '{name}' was not found.",
                           "properties.virtualNetwork.id")
        resource_id = f"{zone['id']}/virtualNetworkLinks/{name}"
        for other in self.store.list(LINK, zone["id"]):
            if other["id"].lower() != resource_id.lower() and \
                    other["properties"]["virtualNetwork"]["id"].lower() == vnet_id.lower():
                raise ArmError(409, "Conflict",
                               f"A virtual network cannot be linked to the same zone twice: '{vnet['name']}' is "
                               f"already linked to '{zone_name}' through '{other['name']}'.")
        for other_zone in self.store.list(ZONE):
            if other_zone["name"].lower() != zone["name"].lower() or other_zone["id"] == zone["id"]:
                continue
            if any(other["properties"]["virtualNetwork"]["id"].lower() == vnet_id.lower()
                   for other in self.store.list(LINK, other_zone["id"])):
                raise ArmError(400, "BadRequest",
                               "A virtual network cannot be linked to multiple zones with overlapping namespaces. "
                               f"You tried to link virtual network with '{zone['name']}' and '{other_zone['name']}' "
                               "zones.")
        existing = self.store.get(resource_id)
        link = arm_resource(resource_id, LINK, "global", {
            "virtualNetwork": {"id": vnet["id"]},
            "registrationEnabled": bool(properties.get("registrationEnabled", False)),
            "resolutionPolicy": properties.get("resolutionPolicy", "Default"),
            "virtualNetworkLinkState": "Completed",
        }, body.get("tags"), etag=_etag())
        return link, existing is None

    def get_virtual_network_link(self, subscription_id: str, group: str, zone_name: str,
                                 name: str) -> dict[str, Any]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        link = self.store.get(f"{zone['id']}/virtualNetworkLinks/{name}")
        if link is None:
            raise resource_not_found(f"{ZONE}/virtualNetworkLinks", f"{zone_name}/{name}", group)
        return link

    def list_virtual_network_links(self, subscription_id: str, group: str, zone_name: str) -> list[dict[str, Any]]:
        zone = self.get_private_zone(subscription_id, group, zone_name)
        return self.store.list(LINK, zone["id"])

    def delete_virtual_network_link(self, subscription_id: str, group: str, zone_name: str, name: str) -> bool:
        zone = self.store.get(f"{self._scope(subscription_id, group)}/privateDnsZones/{zone_name}")
        return zone is not None and self.store.delete(f"{zone['id']}/virtualNetworkLinks/{name}")


def lookup(store: Store, fqdn: str, vnet_ids: list[str]) -> tuple[str, list[str], str | None] | None:
    """What Azure DNS answers a client in one of vnet_ids for fqdn from the private zones linked to them:
    (zone name, A addresses, CNAME target) or None when no linked zone covers the name."""
    name = fqdn.rstrip(".").lower()
    wanted = {v.lower() for v in vnet_ids}
    for zone in store.list(ZONE):
        zone_name = zone["name"].lower()
        if name != zone_name and not name.endswith("." + zone_name):
            continue
        links = store.list(LINK, zone["id"])
        if not any(link["properties"]["virtualNetwork"]["id"].lower() in wanted for link in links):
            continue
        relative = "@" if name == zone_name else name[: -len(zone_name) - 1]
        a_record = store.get(f"{zone['id']}/A/{relative}")
        cname = store.get(f"{zone['id']}/CNAME/{relative}")
        addresses = [r["ipv4Address"] for r in (a_record or {}).get("properties", {}).get("aRecords", [])]
        target = (cname or {}).get("properties", {}).get("cnameRecord", {}).get("cname")
        return zone["name"], addresses, target
    return None
