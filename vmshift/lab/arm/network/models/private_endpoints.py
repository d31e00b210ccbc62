"""Private endpoints to storage accounts, and their private DNS zone groups (the A records they write)."""

from __future__ import annotations

import uuid
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError, invalid_parameter, resource_not_found
from vmshift.lab.arm.privatedns.models import PrivateDnsBackend
from vmshift.lab.arm.storage.models import StorageBackend
from vmshift.lab.arm.wire import arm_resource, weak_etag

PRIVATE_ENDPOINT = "Microsoft.Network/privateEndpoints"
ZONE_GROUP = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
# Sub-resources a storage account's private link offers.
STORAGE_GROUP_IDS = ("blob", "blob_secondary", "file", "file_secondary", "queue", "queue_secondary",
                     "table", "table_secondary", "web", "web_secondary", "dfs", "dfs_secondary")


class PrivateEndpointBackend(BaseBackend):
    def create_or_update_private_endpoint(self, subscription_id: str, group: str, name: str,
                                          body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "privateEndpoints", name, body)
        requested = body.get("properties") or {}
        subnet_id = (requested.get("subnet") or {}).get("id", "")
        _, subnet = self.subnet_by_id(subnet_id, resource_id, location)
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
        }, body.get("tags"), etag=weak_etag())
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
        endpoint = self._get(PRIVATE_ENDPOINT, subscription_id, group, "privateEndpoints", name)
        return self._with_connection_state(endpoint)

    def list_private_endpoints(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return [self._with_connection_state(e) for e in self._list(PRIVATE_ENDPOINT, subscription_id, group)]

    def delete_private_endpoint(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        endpoint = self._find(subscription_id, group, "privateEndpoints", name)
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
        zone_group = {"id": resource_id, "name": name, "type": ZONE_GROUP, "etag": weak_etag(),
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
