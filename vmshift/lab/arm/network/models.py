"""Microsoft.Network: virtual networks and subnets, NICs, private endpoints and their private DNS zone groups."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from vmshift.lab.arm.errors import ArmError, invalid_parameter, resource_not_found
from vmshift.lab.arm.privatedns.models import PrivateDnsBackend
from vmshift.lab.arm.routing import arm_resource
from vmshift.lab.arm.simulator import Simulator, check_name
from vmshift.lab.arm.storage.models import StorageBackend

VIRTUAL_NETWORK = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
NETWORK_INTERFACE = "Microsoft.Network/networkInterfaces"
PRIVATE_ENDPOINT = "Microsoft.Network/privateEndpoints"
ZONE_GROUP = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
# Azure keeps the first four addresses and the last one of every subnet.
RESERVED_AT_START = 4
# Sub-resources a storage account's private link offers.
STORAGE_GROUP_IDS = ("blob", "blob_secondary", "file", "file_secondary", "queue", "queue_secondary",
                     "table", "table_secondary", "web", "web_secondary", "dfs", "dfs_secondary")


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


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



def nic_user(nic: dict[str, Any]) -> dict[str, Any] | None:
    """The VM or private endpoint that holds the NIC ({"id": ...}), or None."""
    return nic["properties"].get("virtualMachine") or nic["properties"].get("privateEndpoint")

class NetworkBackend:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.store = simulator.store

    def _scope(self, subscription_id: str, group: str) -> str:
        return self.simulator.group_scope(subscription_id, group) + "/providers/Microsoft.Network"

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
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
            "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
        }, body.get("tags"), etag=_etag())
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
            "id": subnet_id, "name": name, "type": SUBNET, "etag": _etag(),
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
        vnet = self.store.get(f"{self._scope(subscription_id, group)}/virtualNetworks/{name}")
        if vnet is None:
            raise resource_not_found(VIRTUAL_NETWORK, name, group)
        return vnet

    def list_virtual_networks(self, subscription_id: str, group: str) -> list[dict[str, Any]]:
        return self.store.list(VIRTUAL_NETWORK, self._scope(subscription_id, group))

    def delete_virtual_network(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        vnet = self.store.get(f"{self._scope(subscription_id, group)}/virtualNetworks/{name}")
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

    def subnet_by_id(self, subnet_id: str, target: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The VNet and subnet a NIC or endpoint names; a dangling reference is refused as ARM does."""
        vnet_id, _, name = subnet_id.rpartition("/subnets/")
        vnet = self.store.get(vnet_id) if vnet_id else None
        for subnet in (vnet or {}).get("properties", {}).get("subnets", []):
            if subnet["name"].lower() == name.lower():
                return vnet, subnet
        raise ArmError(400, "InvalidResourceReference",
                       f"Resource {subnet_id} referenced by resource {target} was not found. Please make sure "
                       "that the referenced resource exists, and that both resources are in the same region.")

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

    # --- network interfaces ------------------------------------------------------------------------

    def create_or_update_network_interface(self, subscription_id: str, group: str, name: str,
                                           body: dict[str, Any], managed_by: str | None = None
                                           ) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "networkInterfaces", name, body)
        configurations = (body.get("properties") or {}).get("ipConfigurations") or []
        if not configurations:
            raise invalid_parameter("Network interface must have at least one IP configuration.",
                                    "properties.ipConfigurations")
        if existing is not None and existing["properties"].get("privateEndpoint") and not managed_by:
            raise ArmError(400, "CannotModifyNicAttachedToPrivateEndpoint",
                           f"Network interface {resource_id} is attached to private endpoint "
                           f"{existing['properties']['privateEndpoint']['id']} and cannot be modified; change the "
                           "private endpoint instead.")
        if existing is not None:
            self._detach(resource_id)
        result = []
        for index, configuration in enumerate(configurations):
            properties = configuration.get("properties") or {}
            config_name = configuration.get("name") or f"ipconfig{index + 1}"
            config_id = f"{resource_id}/ipConfigurations/{config_name}"
            subnet_id = (properties.get("subnet") or {}).get("id")
            if not subnet_id:
                raise invalid_parameter("IP configuration must reference a subnet.",
                                        f"properties.ipConfigurations[{index}].properties.subnet")
            vnet, subnet = self.subnet_by_id(subnet_id, resource_id)
            if vnet["location"] != location:
                raise ArmError(400, "InvalidResourceReference",
                               f"Resource {subnet_id} referenced by resource {resource_id} was not found. Please "
                               "make sure that the referenced resource exists, and that both resources are in the "
                               "same region.")
            method = properties.get("privateIPAllocationMethod", "Dynamic")
            requested = properties.get("privateIPAddress") if method == "Static" else None
            if method == "Static" and not requested:
                raise invalid_parameter("A static IP allocation needs privateIPAddress.",
                                        f"properties.ipConfigurations[{index}].properties.privateIPAddress")
            address = self._allocate(subnet, requested, config_id)
            self._attach(vnet, subnet["id"], config_id, address)
            result.append({
                "id": config_id, "name": config_name, "type": f"{NETWORK_INTERFACE}/ipConfigurations",
                "etag": _etag(),
                "properties": {"privateIPAddress": address, "privateIPAllocationMethod": method,
                               "privateIPAddressVersion": "IPv4", "subnet": {"id": subnet["id"]},
                               "primary": index == 0, "provisioningState": "Succeeded"},
            })
        properties: dict[str, Any] = {
            "ipConfigurations": result,
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "enableAcceleratedNetworking": bool((body.get("properties") or {}).get("enableAcceleratedNetworking")),
            "enableIPForwarding": bool((body.get("properties") or {}).get("enableIPForwarding")),
            "nicType": "Standard",
            "resourceGuid": existing["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
        }
        for keep in ("virtualMachine", "privateEndpoint"):
            if existing and existing["properties"].get(keep):
                properties[keep] = existing["properties"][keep]
        if managed_by:
            properties["privateEndpoint"] = {"id": managed_by}
        nic = arm_resource(resource_id, NETWORK_INTERFACE, location, properties, body.get("tags"), etag=_etag())
        return nic, existing is None

    def get_network_interface(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        nic = self.store.get(f"{self._scope(subscription_id, group)}/networkInterfaces/{name}")
        if nic is None:
            raise resource_not_found(NETWORK_INTERFACE, name, group)
        return nic

    def list_network_interfaces(self, subscription_id: str, group: str) -> list[dict[str, Any]]:
        return self.store.list(NETWORK_INTERFACE, self._scope(subscription_id, group))

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

    def delete_network_interface(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        nic = self.store.get(f"{self._scope(subscription_id, group)}/networkInterfaces/{name}")
        if nic is None:
            return None
        # A NIC that a VM uses, or that a private endpoint manages, is refused by Azure until it is dissociated
        # (a private endpoint's NIC goes away only with its endpoint).
        if user := nic_user(nic):
            raise ArmError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing resource "
                                            f"{user['id']}. In order to delete the "
                                            "network interface, it must be dissociated from the resource.")
        self._detach(nic["id"])
        self.store.delete(nic["id"])
        return nic

    # --- private endpoints -------------------------------------------------------------------------

    def create_or_update_private_endpoint(self, subscription_id: str, group: str, name: str,
                                          body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "privateEndpoints", name, body)
        requested = body.get("properties") or {}
        subnet_id = (requested.get("subnet") or {}).get("id", "")
        vnet, subnet = self.subnet_by_id(subnet_id, resource_id)
        if vnet["location"] != location:
            raise ArmError(400, "InvalidResourceReference",
                           f"Resource {subnet_id} referenced by resource {resource_id} was not found. Please make "
                           "sure that the referenced resource exists, and that both resources are in the same "
                           "region.")
        automatic = requested.get("privateLinkServiceConnections") or []
        manual = requested.get("manualPrivateLinkServiceConnections") or []
        if len(automatic) + len(manual) != 1:
            raise invalid_parameter("A private endpoint takes exactly one private link service connection, "
                                    "automatic or manual.", "properties.privateLinkServiceConnections")
        connection = (automatic or manual)[0]
        connection_properties = connection.get("properties") or {}
        target_id = connection_properties.get("privateLinkServiceId", "")
        storage = StorageBackend(self.simulator)
        account = storage.account_by_id(target_id)
        if account is None:
            raise ArmError(400, "PrivateLinkServiceNotFound",
                           f"Private link service {target_id} referenced by private endpoint {resource_id} was not "
                           "found.", "properties.privateLinkServiceConnections.properties.privateLinkServiceId")
        group_ids = connection_properties.get("groupIds") or []
        if len(group_ids) != 1 or group_ids[0] not in STORAGE_GROUP_IDS:
            raise ArmError(400, "PrivateEndpointBadRequest",
                           f"Call to Microsoft.Storage/storageAccounts failed. Error message: The group id "
                           f"{group_ids} is not valid. Valid group ids are {', '.join(STORAGE_GROUP_IDS)}.",
                           "properties.privateLinkServiceConnections.properties.groupIds")
        if existing is None:
            status, description = ("Approved", "Auto-Approved") if automatic else \
                ("Pending", connection_properties.get("requestMessage", ""))
            storage.add_private_endpoint_connection(account, resource_id, status, description)
            try:
                nic_name = requested.get("customNetworkInterfaceName") or f"{name}.nic.{uuid.uuid4()}"
                static = [c for c in requested.get("ipConfigurations") or []
                          if (c.get("properties") or {}).get("privateIPAddress")]
                ip_configuration: dict[str, Any] = {"subnet": {"id": subnet["id"]}}
                if static:
                    ip_configuration.update(privateIPAllocationMethod="Static",
                                            privateIPAddress=static[0]["properties"]["privateIPAddress"])
                nic, _ = self.create_or_update_network_interface(
                    subscription_id, group, nic_name,
                    {"location": location, "properties": {"ipConfigurations": [
                        {"name": f"privateEndpointIpConfig.{uuid.uuid4()}", "properties": ip_configuration}]}},
                    managed_by=resource_id)
            except ArmError:
                storage.remove_private_endpoint_connections(resource_id)
                raise
            self.store.put(nic["id"], nic)
            nic_ids = [nic["id"]]
            address = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        else:
            nic_ids = [n["id"] for n in existing["properties"]["networkInterfaces"]]
            address = existing["properties"]["customDnsConfigs"][0]["ipAddresses"][0]
        stored_connection = {
            "name": connection.get("name") or name,
            "id": f"{resource_id}/{'manualP' if manual else 'p'}rivateLinkServiceConnections/"
                  f"{connection.get('name') or name}",
            "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
            "properties": {"privateLinkServiceId": account["id"], "groupIds": group_ids,
                           "requestMessage": connection_properties.get("requestMessage", ""),
                           "provisioningState": "Succeeded"},
        }
        endpoint = arm_resource(resource_id, PRIVATE_ENDPOINT, location, {
            "subnet": {"id": subnet["id"]},
            "networkInterfaces": [{"id": n} for n in nic_ids],
            "privateLinkServiceConnections": [] if manual else [stored_connection],
            "manualPrivateLinkServiceConnections": [stored_connection] if manual else [],
            "customDnsConfigs": [{"fqdn": f"{account['name']}.{group_ids[0].split('_')[0]}.core.windows.net",
                                  "ipAddresses": [address]}],
            "ipConfigurations": requested.get("ipConfigurations") or [],
            "customNetworkInterfaceName": requested.get("customNetworkInterfaceName", ""),
            "applicationSecurityGroups": [],
        }, body.get("tags"), etag=_etag())
        return endpoint, existing is None

    def _with_connection_state(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        storage = StorageBackend(self.simulator)
        properties = endpoint["properties"]
        for connection in [*properties["privateLinkServiceConnections"],
                           *properties["manualPrivateLinkServiceConnections"]]:
            connection["properties"]["privateLinkServiceConnectionState"] = storage.connection_state(
                endpoint["id"], connection["properties"]["privateLinkServiceId"])
        return endpoint

    def get_private_endpoint(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        endpoint = self.store.get(f"{self._scope(subscription_id, group)}/privateEndpoints/{name}")
        if endpoint is None:
            raise resource_not_found(PRIVATE_ENDPOINT, name, group)
        return self._with_connection_state(endpoint)

    def list_private_endpoints(self, subscription_id: str, group: str) -> list[dict[str, Any]]:
        return [self._with_connection_state(e)
                for e in self.store.list(PRIVATE_ENDPOINT, self._scope(subscription_id, group))]

    def delete_private_endpoint(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        endpoint = self.store.get(f"{self._scope(subscription_id, group)}/privateEndpoints/{name}")
        if endpoint is None:
            return None
        for zone_group in self.store.list(ZONE_GROUP, endpoint["id"]):
            self._remove_zone_group_records(zone_group)
            self.store.delete(zone_group["id"])
        StorageBackend(self.simulator).remove_private_endpoint_connections(endpoint["id"])
        for nic in endpoint["properties"]["networkInterfaces"]:
            self._detach(nic["id"])
            self.store.delete(nic["id"])
        self.store.delete(endpoint["id"])
        return endpoint

    # --- private DNS zone groups -------------------------------------------------------------------

    def create_or_update_private_dns_zone_group(self, subscription_id: str, group: str, endpoint_name: str,
                                                name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Write the endpoint's A record into each zone named, as Azure does for a zone group."""
        endpoint = self.get_private_endpoint(subscription_id, group, endpoint_name)
        resource_id = f"{endpoint['id']}/privateDnsZoneGroups/{name}"
        others = [g for g in self.store.list(ZONE_GROUP, endpoint["id"]) if g["id"].lower() != resource_id.lower()]
        if others:
            raise ArmError(400, "OnlyOneDnsZoneGroupAllowedPerPrivateEndpoint",
                           f"Private endpoint {endpoint['id']} already has the private DNS zone group "
                           f"{others[0]['name']}; only one is allowed.")
        existing = self.store.get(resource_id)
        if existing is not None:
            self._remove_zone_group_records(existing)
        dns = PrivateDnsBackend(self.simulator)
        dns_config = endpoint["properties"]["customDnsConfigs"][0]
        configs = []
        for index, config in enumerate((body.get("properties") or {}).get("privateDnsZoneConfigs") or []):
            zone_id = (config.get("properties") or {}).get("privateDnsZoneId", "")
            zone = self.store.get(zone_id)
            if zone is None or zone["type"] != "Microsoft.Network/privateDnsZones":
                raise ArmError(400, "InvalidPrivateDnsZoneIds",
                               f"Private DNS zone {zone_id} referenced by {resource_id} was not found.",
                               f"properties.privateDnsZoneConfigs[{index}].properties.privateDnsZoneId")
            record_name = dns_config["fqdn"].split(".")[0]
            dns.write_record_set(zone, "A", record_name,
                                 {"ttl": 10, "aRecords": [{"ipv4Address": a} for a in dns_config["ipAddresses"]]})
            configs.append({
                "name": config.get("name") or zone["name"].replace(".", "-"),
                "properties": {"privateDnsZoneId": zone["id"], "recordSets": [{
                    "recordType": "A", "recordSetName": record_name, "fqdn": f"{record_name}.{zone['name']}",
                    "ttl": 10, "ipAddresses": dns_config["ipAddresses"], "provisioningState": "Succeeded"}]},
            })
        zone_group = {"id": resource_id, "name": name, "type": ZONE_GROUP, "etag": _etag(),
                      "properties": {"privateDnsZoneConfigs": configs}}
        return zone_group, existing is None

    def _remove_zone_group_records(self, zone_group: dict[str, Any]) -> None:
        for config in zone_group["properties"]["privateDnsZoneConfigs"]:
            for record in config["properties"]["recordSets"]:
                self.store.delete(f"{config['properties']['privateDnsZoneId']}/A/{record['recordSetName']}")

    def get_private_dns_zone_group(self, subscription_id: str, group: str, endpoint_name: str,
                                   name: str) -> dict[str, Any]:
        endpoint = self.get_private_endpoint(subscription_id, group, endpoint_name)
        zone_group = self.store.get(f"{endpoint['id']}/privateDnsZoneGroups/{name}")
        if zone_group is None:
            raise resource_not_found(ZONE_GROUP, f"{endpoint_name}/{name}", group)
        return zone_group

    def list_private_dns_zone_groups(self, subscription_id: str, group: str,
                                     endpoint_name: str) -> list[dict[str, Any]]:
        endpoint = self.get_private_endpoint(subscription_id, group, endpoint_name)
        return self.store.list(ZONE_GROUP, endpoint["id"])

    def delete_private_dns_zone_group(self, subscription_id: str, group: str, endpoint_name: str,
                                      name: str) -> dict[str, Any] | None:
        endpoint = self.get_private_endpoint(subscription_id, group, endpoint_name)
        zone_group = self.store.get(f"{endpoint['id']}/privateDnsZoneGroups/{name}")
        if zone_group is not None:
            self._remove_zone_group_records(zone_group)
            self.store.delete(zone_group["id"])
        return zone_group
