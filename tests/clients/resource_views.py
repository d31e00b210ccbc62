"""What a migration engineer checks of each resource a migration built, taken the same way from every client's
answer, so that the Azure CLI's, the JavaScript SDK's and Ansible's reads can be compared with the Python SDK's.

The clients shape one resource three ways: the Python SDK's `as_dict()` is ARM's wire JSON (`properties` nested),
the CLI prints the same with every `properties` folded into its parent (and adds `resourceGroup`), the JavaScript
SDK's models are folded too. Folding every `properties` first makes them one shape.
"""

from __future__ import annotations

from typing import Any


def folded(value: Any) -> Any:
    """The resource with each `properties` object merged into its parent, at every depth."""
    if isinstance(value, list):
        return [folded(item) for item in value]
    if not isinstance(value, dict):
        return value
    merged = {key: folded(item) for key, item in value.items() if key != "properties"}
    if isinstance(value.get("properties"), dict):
        merged |= folded(value["properties"])
    return merged


def _id(reference: dict | None) -> str | None:
    return (reference or {}).get("id")


def virtual_machine(resource: dict) -> dict:
    vm = folded(resource)
    storage = vm["storageProfile"]
    return {
        "id": vm["id"], "name": vm["name"], "location": vm["location"], "tags": vm.get("tags"),
        "vmSize": vm["hardwareProfile"]["vmSize"],
        "osDisk": (storage["osDisk"]["name"], _id(storage["osDisk"]["managedDisk"]), storage["osDisk"]["osType"]),
        "dataDisks": sorted((d["lun"], d["name"], _id(d["managedDisk"])) for d in storage.get("dataDisks", [])),
        "networkInterfaces": sorted(nic["id"] for nic in vm["networkProfile"]["networkInterfaces"]),
        "availabilitySet": _id(vm.get("availabilitySet")),
        "licenseType": vm.get("licenseType"),
        "provisioningState": vm["provisioningState"],
    }


def disk(resource: dict) -> dict:
    found = folded(resource)
    return {
        "id": found["id"], "name": found["name"], "location": found["location"], "sku": found["sku"]["name"],
        "diskSizeGB": found["diskSizeGB"], "createOption": found["creationData"]["createOption"],
        "osType": found.get("osType"), "diskState": found.get("diskState"),
        "encryption": (found.get("encryption") or {}).get("type"),
        "provisioningState": found["provisioningState"], "tags": found.get("tags") or {},
    }


def disks(resources: list[dict]) -> list[dict]:
    return sorted((disk(resource) for resource in resources), key=lambda d: d["id"].lower())


def network_interface(resource: dict) -> dict:
    nic = folded(resource)
    return {
        "id": nic["id"], "name": nic["name"], "location": nic["location"],
        "ipConfigurations": sorted(
            (ip["name"], ip.get("privateIPAddress"), ip.get("privateIPAllocationMethod"), _id(ip.get("subnet")),
             bool(ip.get("primary"))) for ip in nic["ipConfigurations"]),
        "provisioningState": nic["provisioningState"],
    }


def private_endpoint(resource: dict) -> dict:
    endpoint = folded(resource)
    return {
        "id": endpoint["id"], "name": endpoint["name"], "location": endpoint["location"],
        "subnet": _id(endpoint["subnet"]),
        "connections": sorted(
            (link["name"], link["privateLinkServiceId"], tuple(link["groupIds"]),
             link["privateLinkServiceConnectionState"]["status"])
            for link in endpoint["privateLinkServiceConnections"]),
        "customDnsConfigs": sorted((c["fqdn"], tuple(c["ipAddresses"])) for c in endpoint.get("customDnsConfigs", [])),
        "networkInterfaces": sorted(nic["id"] for nic in endpoint.get("networkInterfaces", [])),
        "provisioningState": endpoint["provisioningState"],
    }


def a_records(resources: list[dict]) -> list[tuple]:
    """Each A record set of a zone: name, TTL and addresses."""
    return sorted((r["name"], r["ttl"], tuple(sorted(a["ipv4Address"] for a in r["aRecords"])))
                  for r in (folded(resource) for resource in resources))


def storage_account(resource: dict) -> dict:
    account = folded(resource)
    return {
        "id": account["id"], "name": account["name"], "location": account["location"], "kind": account["kind"],
        "sku": account["sku"]["name"], "blobEndpoint": account["primaryEndpoints"]["blob"],
        "privateEndpointConnections": sorted(
            (_id(c["privateEndpoint"]), c["privateLinkServiceConnectionState"]["status"])
            for c in account.get("privateEndpointConnections") or []),
        "provisioningState": account["provisioningState"],
    }
