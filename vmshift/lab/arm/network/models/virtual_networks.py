"""Virtual networks, their subnets and peerings, and the private addresses a subnet hands out."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError, invalid_parameter
from vmshift.lab.arm.simulator import check_name
from vmshift.lab.arm.wire import arm_resource, weak_etag

VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
PEERING = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
# Azure keeps the first four addresses and the last one of every subnet.
RESERVED_AT_START = 4


def _network(prefix: str, target: str) -> ipaddress.IPv4Network:
    # Azure wants CIDR: "10.1.0.0" is refused, where ipaddress would read it as a /32.
    try:
        if "/" not in prefix:
            raise ValueError(prefix)
        network = ipaddress.IPv4Network(prefix, strict=True)
    except ValueError as exc:
        raise ArmError(400, "InvalidAddressPrefixFormat",
                       f"Address prefix {prefix} is not formatted correctly. It should follow CIDR notation, "
                       "for example 10.0.0.0/24.", target) from exc
    return network


class VirtualNetworkBackend(BaseBackend):
    # --- virtual networks and subnets -------------------------------------------------------------

    def create_or_update_virtual_network(self, subscription_id: str, group: str, name: str,
                                         body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "virtualNetworks", name, body)
        properties = body.get("properties") or {}
        prefixes = (properties.get("addressSpace") or {}).get("addressPrefixes") or []
        if not prefixes:
            raise invalid_parameter("The virtual network must have at least one address prefix.",
                                    "properties.addressSpace.addressPrefixes")
        spaces = [_network(p, "properties.addressSpace.addressPrefixes") for p in prefixes]
        for i, a in enumerate(spaces):
            for b in spaces[i + 1:]:
                if a.overlaps(b):
                    raise ArmError(400, "VnetAddressSpacesOverlap",
                                   f"Cannot create or update virtual network {name}: address space {a} overlaps "
                                   f"with address space {b} in the same virtual network.")
        subnets = [self._subnet(resource_id, s.get("name", ""), s.get("properties") or {}, spaces, existing)
                   for s in properties.get("subnets") or []]
        self._check_subnet_overlaps(name, subnets)
        kept = {s["name"].lower() for s in subnets}
        for subnet in (existing or {}).get("properties", {}).get("subnets", []):
            if subnet["name"].lower() not in kept and subnet["properties"]["ipConfigurations"]:
                raise ArmError(400, "InUseSubnetCannotBeDeleted",
                               f"Subnet {subnet['name']} is in use by "
                               f"{subnet['properties']['ipConfigurations'][0]['id']} and cannot be deleted. In order "
                               "to delete the subnet, delete all the resources within it.")
        vnet = arm_resource(resource_id, VIRTUAL_NETWORK, location, {
            "addressSpace": {"addressPrefixes": [str(s) for s in spaces]},
            "subnets": subnets,
            "virtualNetworkPeerings": (existing or {}).get("properties", {}).get("virtualNetworkPeerings", []),
            "enableDdosProtection": False,
            "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
        }, body.get("tags"), etag=weak_etag())
        return vnet, existing is None

    def _subnet(self, vnet_id: str, name: str, properties: dict[str, Any],
                spaces: list[ipaddress.IPv4Network], vnet: dict[str, Any] | None) -> dict[str, Any]:
        check_name(name)
        prefix = properties.get("addressPrefix") or (properties.get("addressPrefixes") or [None])[0]
        if not prefix:
            raise invalid_parameter(f"Subnet {name} must have an address prefix.", "properties.addressPrefix")
        network = _network(prefix, f"subnets/{name}/properties.addressPrefix")
        if not any(network.subnet_of(space) for space in spaces):
            raise ArmError(400, "NetcfgSubnetRangeOutsideVnet",
                           f"Subnet '{name}' is not valid because its IP address range is outside the IP address "
                           f"range of virtual network '{vnet_id.rsplit('/', 1)[-1]}'.")
        subnet_id = f"{vnet_id}/subnets/{name}"
        previous = next((s for s in (vnet or {}).get("properties", {}).get("subnets", [])
                         if s["name"].lower() == name.lower()), None)
        return {
            "id": subnet_id, "name": name, "type": SUBNET, "etag": weak_etag(),
            "properties": {
                "addressPrefix": str(network),
                "privateEndpointNetworkPolicies": properties.get("privateEndpointNetworkPolicies", "Disabled"),
                "privateLinkServiceNetworkPolicies": properties.get("privateLinkServiceNetworkPolicies", "Enabled"),
                "delegations": properties.get("delegations", []),
                "ipConfigurations": (previous or {}).get("properties", {}).get("ipConfigurations", []),
                "provisioningState": "Succeeded",
            },
        }

    @staticmethod
    def _check_subnet_overlaps(vnet_name: str, subnets: list[dict[str, Any]]) -> None:
        networks = [(s["name"], ipaddress.IPv4Network(s["properties"]["addressPrefix"])) for s in subnets]
        for i, (name_a, a) in enumerate(networks):
            for name_b, b in networks[i + 1:]:
                if a.overlaps(b):
                    raise ArmError(400, "NetcfgSubnetRangesOverlap",
                                   f"Subnet '{name_b}' is not valid in virtual network '{vnet_name}' because its IP "
                                   f"address range overlaps with that of an existing subnet '{name_a}' ({a}).")

    def get_virtual_network(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(VIRTUAL_NETWORK, subscription_id, group, "virtualNetworks", name)

    def list_virtual_networks(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(VIRTUAL_NETWORK, subscription_id, group)

    def delete_virtual_network(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        vnet = self._find(subscription_id, group, "virtualNetworks", name)
        if vnet is None:
            return None
        used = [c for s in vnet["properties"]["subnets"] for c in s["properties"]["ipConfigurations"]]
        if used:
            raise ArmError(400, "InUseSubnetCannotBeDeleted",
                           f"Subnet of virtual network {name} is in use by {used[0]['id']} and cannot be deleted.")
        self.store.delete(vnet["id"])
        return vnet

    def create_or_update_subnet(self, subscription_id: str, group: str, vnet_name: str, name: str,
                                body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        spaces = [ipaddress.IPv4Network(p) for p in vnet["properties"]["addressSpace"]["addressPrefixes"]]
        subnet = self._subnet(vnet["id"], name, body.get("properties") or {}, spaces, vnet)
        others = [s for s in vnet["properties"]["subnets"] if s["name"].lower() != name.lower()]
        created = len(others) == len(vnet["properties"]["subnets"])
        self._check_subnet_overlaps(vnet_name, [*others, subnet])
        vnet["properties"]["subnets"] = [*others, subnet]
        vnet["etag"] = subnet["etag"]
        return vnet, subnet, created

    def get_subnet(self, subscription_id: str, group: str, vnet_name: str, name: str) -> dict[str, Any]:
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        for subnet in vnet["properties"]["subnets"]:
            if subnet["name"].lower() == name.lower():
                return subnet
        raise ArmError(404, "NotFound", f"Resource {vnet['id']}/subnets/{name} not found.")

    def subnet_by_id(self, subnet_id: str, target: str, location: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The VNet and subnet a NIC or endpoint in `location` names; a dangling reference, or one to another
        region, is refused as ARM does (with the same message)."""
        vnet_id, _, name = subnet_id.rpartition("/subnets/")
        vnet = self.store.get(vnet_id) if vnet_id else None
        if vnet is not None and vnet["location"] == location:
            for subnet in vnet["properties"]["subnets"]:
                if subnet["name"].lower() == name.lower():
                    return vnet, subnet
        raise ArmError(400, "InvalidResourceReference",
                       f"Resource {subnet_id} referenced by resource {target} was not found. Please make sure "
                       "that the referenced resource exists, and that both resources are in the same region.")

    # --- peerings ------------------------------------------------------------------------------------
    # A peering is one VNet's side: Initiated until the remote VNet peers back, then Connected on both sides;
    # Disconnected once the other side is deleted. The remote may be in another subscription or region.

    def create_or_update_peering(self, subscription_id: str, group: str, vnet_name: str, name: str,
                                 body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool]:
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        check_name(name)
        peering_id = f"{vnet['id']}/virtualNetworkPeerings/{name}"
        properties = body.get("properties") or {}
        remote_id = (properties.get("remoteVirtualNetwork") or {}).get("id")
        if not remote_id:
            raise invalid_parameter("remoteVirtualNetwork is required for a virtual network peering.",
                                    "properties.remoteVirtualNetwork")
        remote = self.store.get(remote_id)
        if remote is None or remote["type"] != VIRTUAL_NETWORK:
            raise ArmError(400, "InvalidResourceReference",
                           f"Resource {remote_id} referenced by resource {peering_id} was not found. Please make "
                           "sure that the referenced resource exists.")
        if remote["id"].lower() == vnet["id"].lower():
            raise invalid_parameter(f"Virtual network {vnet['id']} cannot be peered with itself.",
                                    "properties.remoteVirtualNetwork")
        mine = [ipaddress.IPv4Network(p) for p in vnet["properties"]["addressSpace"]["addressPrefixes"]]
        theirs = [ipaddress.IPv4Network(p) for p in remote["properties"]["addressSpace"]["addressPrefixes"]]
        if overlap := next(((a, b) for a in mine for b in theirs if a.overlaps(b)), None):
            raise ArmError(400, "VnetAddressSpacesOverlap",
                           f"Cannot create or update peering {peering_id}. Virtual networks {vnet['id']} and "
                           f"{remote['id']} cannot be peered because their address spaces overlap. Overlapping "
                           f"address prefixes: {overlap[0]}, {overlap[1]}.")
        peerings = vnet["properties"]["virtualNetworkPeerings"]
        previous = next((p for p in peerings if p["name"].lower() == name.lower()), None)
        if previous is None and any(p["properties"]["remoteVirtualNetwork"]["id"].lower() == remote["id"].lower()
                                    for p in peerings):
            raise ArmError(400, "PeeringAlreadyExistsForRemoteVnet",
                           f"Cannot create peering {peering_id} because a peering to virtual network "
                           f"{remote['id']} already exists.")
        back = self._peering_to(remote, vnet["id"])
        state = "Connected" if back is not None and back["properties"]["peeringState"] != "Disconnected" \
            else "Initiated"
        peering = {
            "id": peering_id, "name": name, "type": PEERING, "etag": weak_etag(),
            "properties": {
                "peeringState": state, "peeringSyncLevel": "FullyInSync",
                "remoteVirtualNetwork": {"id": remote["id"]},
                "remoteAddressSpace": {"addressPrefixes": [str(prefix) for prefix in theirs]},
                **{key: bool(properties.get(key, default)) for key, default in (
                    ("allowVirtualNetworkAccess", True), ("allowForwardedTraffic", False),
                    ("allowGatewayTransit", False), ("useRemoteGateways", False))},
                "resourceGuid": previous["properties"]["resourceGuid"] if previous else str(uuid.uuid4()),
                "provisioningState": "Succeeded",
            },
        }
        vnet["properties"]["virtualNetworkPeerings"] = [*(p for p in peerings if p is not previous), peering]
        self.store.put(vnet["id"], vnet)
        if state == "Connected" and back is not None and back["properties"]["peeringState"] != "Connected":
            back["properties"]["peeringState"] = "Connected"
            self.store.put(remote["id"], remote)
        return vnet, peering, previous is None

    @staticmethod
    def _peering_to(vnet: dict[str, Any], remote_id: str) -> dict[str, Any] | None:
        return next((p for p in vnet["properties"].get("virtualNetworkPeerings", [])
                     if p["properties"]["remoteVirtualNetwork"]["id"].lower() == remote_id.lower()), None)

    def get_peering(self, subscription_id: str, group: str, vnet_name: str, name: str) -> dict[str, Any]:
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        for peering in vnet["properties"]["virtualNetworkPeerings"]:
            if peering["name"].lower() == name.lower():
                return peering
        raise ArmError(404, "NotFound", f"Resource {vnet['id']}/virtualNetworkPeerings/{name} not found.")

    def delete_peering(self, subscription_id: str, group: str, vnet_name: str, name: str) -> dict[str, Any] | None:
        """Deleting one side leaves the other Disconnected: it must be deleted and made again to connect."""
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        peering = next((p for p in vnet["properties"]["virtualNetworkPeerings"]
                        if p["name"].lower() == name.lower()), None)
        if peering is None:
            return None
        vnet["properties"]["virtualNetworkPeerings"].remove(peering)
        self.store.put(vnet["id"], vnet)
        remote = self.store.get(peering["properties"]["remoteVirtualNetwork"]["id"])
        if remote is not None and (back := self._peering_to(remote, vnet["id"])) is not None:
            back["properties"]["peeringState"] = "Disconnected"
            self.store.put(remote["id"], remote)
        return peering

    def peer_both_ways(self, vnet_id: str, remote_id: str) -> None:
        """What an administrator peering two VNets does (the lab's seed): a side from each, Connected."""
        for local, remote in ((vnet_id, remote_id), (remote_id, vnet_id)):
            vnet = self.store.get(local)
            if vnet is None or self.store.get(remote) is None:
                raise ValueError(f"cannot peer {vnet_id} with {remote_id}: {local} does not exist")
            if self._peering_to(vnet, remote) is None:
                parts = local.split("/")
                self.create_or_update_peering(parts[2], parts[4], parts[8], f"peer-{remote.rsplit('/', 1)[1]}",
                                              {"properties": {"remoteVirtualNetwork": {"id": remote},
                                                              "allowForwardedTraffic": True}})

    # --- IP addresses ------------------------------------------------------------------------------

    def _used_addresses(self, subnet: dict[str, Any]) -> set[str]:
        return {c["privateIPAddress"] for c in subnet["properties"]["ipConfigurations"]}

    def _allocate(self, subnet: dict[str, Any], requested: str | None, owner: str) -> str:
        network = ipaddress.IPv4Network(subnet["properties"]["addressPrefix"])
        used = self._used_addresses(subnet)
        hosts = list(network)[RESERVED_AT_START:-1]
        if requested:
            try:
                address = ipaddress.IPv4Address(requested)
            except ValueError as exc:
                raise invalid_parameter(f"Private IP address {requested} is not a valid IPv4 address.",
                                        "privateIPAddress") from exc
            if address not in network:
                raise ArmError(400, "PrivateIPAddressNotInSubnet",
                               f"Private static IP address {requested} does not belong to the range of subnet "
                               f"prefix {network}.")
            if address not in hosts:
                raise ArmError(400, "PrivateIPAddressInReservedRange",
                               f"Private static IP address {requested} falls within reserved IP range of subnet "
                               f"prefix {network}.")
            if requested in used:
                raise ArmError(400, "PrivateIPAddressInUse",
                               f"IP configuration {owner} is using the private IP address {requested} which is "
                               f"already allocated to resource in subnet {subnet['id']}.")
            return requested
        for address in hosts:
            if str(address) not in used:
                return str(address)
        raise ArmError(400, "SubnetIsFull", f"Subnet {subnet['name']} with address prefix {network} does not have "
                                            "enough capacity for 1 IP addresses.")

    def _attach(self, vnet: dict[str, Any], subnet_id: str, ip_configuration_id: str, address: str) -> None:
        for subnet in vnet["properties"]["subnets"]:
            if subnet["id"].lower() == subnet_id.lower():
                subnet["properties"]["ipConfigurations"].append({"id": ip_configuration_id,
                                                                 "privateIPAddress": address})
        self.store.put(vnet["id"], vnet)

    def _detach(self, ip_configuration_prefix: str) -> None:
        """Release the addresses a deleted NIC held."""
        prefix = ip_configuration_prefix.lower() + "/"
        for vnet in self.store.list(VIRTUAL_NETWORK):
            changed = False
            for subnet in vnet["properties"]["subnets"]:
                kept = [c for c in subnet["properties"]["ipConfigurations"] if not c["id"].lower().startswith(prefix)]
                changed |= len(kept) != len(subnet["properties"]["ipConfigurations"])
                subnet["properties"]["ipConfigurations"] = kept
            if changed:
                self.store.put(vnet["id"], vnet)

    def delete_subnet(self, subscription_id: str, group: str, vnet_name: str, name: str) -> dict[str, Any] | None:
        vnet = self.get_virtual_network(subscription_id, group, vnet_name)
        subnet = next((s for s in vnet["properties"]["subnets"] if s["name"].lower() == name.lower()), None)
        if subnet is None:
            return None
        if subnet["properties"]["ipConfigurations"]:
            raise ArmError(400, "InUseSubnetCannotBeDeleted",
                           f"Subnet {name} is in use by {subnet['properties']['ipConfigurations'][0]['id']} and "
                           "cannot be deleted. In order to delete the subnet, delete all the resources within it.")
        vnet["properties"]["subnets"].remove(subnet)
        self.store.put(vnet["id"], vnet)
        return subnet
