"""Network interfaces: IP configurations in a subnet, held by a VM or managed by a private endpoint."""

from __future__ import annotations

import uuid
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError, invalid_parameter
from vmshift.lab.arm.wire import arm_resource, weak_etag

NETWORK_INTERFACE = "Microsoft.Network/networkInterfaces"


def nic_user(nic: dict[str, Any]) -> dict[str, Any] | None:
    """The VM or private endpoint that holds the NIC ({"id": ...}), or None."""
    return nic["properties"].get("virtualMachine") or nic["properties"].get("privateEndpoint")


class NetworkInterfaceBackend(BaseBackend):
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
            vnet, subnet = self.subnet_by_id(subnet_id, resource_id, location)
            method = properties.get("privateIPAllocationMethod", "Dynamic")
            requested = properties.get("privateIPAddress") if method == "Static" else None
            if method == "Static" and not requested:
                raise invalid_parameter("A static IP allocation needs privateIPAddress.",
                                        f"properties.ipConfigurations[{index}].properties.privateIPAddress")
            address = self._allocate(subnet, requested, config_id)
            self._attach(vnet, subnet["id"], config_id, address)
            result.append({
                "id": config_id, "name": config_name, "type": f"{NETWORK_INTERFACE}/ipConfigurations",
                "etag": weak_etag(),
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
        for keep in ("virtualMachine", "primary", "privateEndpoint"):
            if existing and existing["properties"].get(keep) is not None:
                properties[keep] = existing["properties"][keep]
        if managed_by:
            properties["privateEndpoint"] = {"id": managed_by}
        nic = arm_resource(resource_id, NETWORK_INTERFACE, location, properties, body.get("tags"), etag=weak_etag())
        return nic, existing is None

    def get_network_interface(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(NETWORK_INTERFACE, subscription_id, group, "networkInterfaces", name)

    def list_network_interfaces(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(NETWORK_INTERFACE, subscription_id, group)

    def delete_network_interface(self, subscription_id: str, group: str, name: str) -> dict[str, Any] | None:
        nic = self._find(subscription_id, group, "networkInterfaces", name)
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
