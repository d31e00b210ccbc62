"""Request bodies shaped as the REST specs' examples (Azure/azure-rest-api-specs, `examples/` of each
operation), sent as JSON through the SDK clients; the answers deserialize into the SDK's models."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from arm_clients import Arm, fixed_vhd, upload_page_blob
from azure.mgmt.compute.models import Disk, VirtualMachine
from azure.mgmt.network.models import NetworkInterface, PrivateDnsZoneGroup, PrivateEndpoint, VirtualNetwork
from azure.mgmt.privatedns.models import PrivateZone, RecordSet, VirtualNetworkLink
from azure.mgmt.storage.models import StorageAccount

pytestmark = pytest.mark.lab


def test_network_and_private_dns_examples(arm: Arm, group: str, unique: Callable[[str], str]) -> None:
    scope = f"{arm.scope(group)}/providers"
    # VirtualNetworkCreateSubnet.json
    vnet = arm.network.virtual_networks.begin_create_or_update(group, "test-vnet", {
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                       "subnets": [{"name": "test-1", "properties": {"addressPrefix": "10.0.0.0/24"}}]},
        "location": "eastus"}).result()
    assert isinstance(vnet, VirtualNetwork) and vnet.subnets[0].address_prefix == "10.0.0.0/24"
    # NetworkInterfaceCreate.json
    nic = arm.network.network_interfaces.begin_create_or_update(group, "test-nic", {
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": f"{vnet.id}/subnets/test-1"}}}], "enableAcceleratedNetworking": True},
        "location": "eastus"}).result()
    assert isinstance(nic, NetworkInterface) and nic.ip_configurations[0].private_ip_address == "10.0.0.4"
    # StorageAccountCreate.json (the fields vmshift's cache account uses)
    account = unique("examplesa")
    created = arm.storage.storage_accounts.begin_create(group, account, {
        "sku": {"name": "Standard_GRS"}, "kind": "StorageV2", "location": "eastus",
        "properties": {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2",
                       "encryption": {"services": {"blob": {"keyType": "Account", "enabled": True}},
                                      "keySource": "Microsoft.Storage"},
                       "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny"}},
        "tags": {"key1": "value1"}}).result()
    assert isinstance(created, StorageAccount) and created.network_rule_set.default_action == "Deny"
    # PrivateEndpointCreate.json: static IP configuration and a custom NIC name
    endpoint = arm.network.private_endpoints.begin_create_or_update(group, "testPe", {
        "location": "eastus", "properties": {
            "privateLinkServiceConnections": [{"properties": {
                "privateLinkServiceId": created.id, "groupIds": ["blob"],
                "requestMessage": "Please approve my connection."}}],
            "subnet": {"id": f"{vnet.id}/subnets/test-1"},
            "ipConfigurations": [{"name": "pestaticconfig", "properties": {
                "groupId": "blob", "memberName": "blob", "privateIPAddress": "10.0.0.6"}}],
            "customNetworkInterfaceName": "testPeNic"}}).result()
    assert isinstance(endpoint, PrivateEndpoint)
    assert endpoint.custom_dns_configs[0].ip_addresses == ["10.0.0.6"]
    assert endpoint.network_interfaces[0].id.endswith("/networkInterfaces/testPeNic")
    state = endpoint.private_link_service_connections[0].private_link_service_connection_state
    assert (state.status, state.actions_required) == ("Approved", "None")
    # PrivateZonePut.json, VirtualNetworkLinkPut.json, RecordSetAPut.json
    zone = arm.private_dns.private_zones.begin_create_or_update(group, "privatelink.blob.core.windows.net", {
        "location": "Global", "tags": {"key1": "value1"}}).result()
    assert isinstance(zone, PrivateZone) and zone.number_of_record_sets == 1
    link = arm.private_dns.virtual_network_links.begin_create_or_update(group, zone.name, "vnet-link", {
        "location": "Global", "properties": {"virtualNetwork": {"id": vnet.id}, "registrationEnabled": False}}
    ).result()
    assert isinstance(link, VirtualNetworkLink) and link.virtual_network_link_state == "Completed"
    record = arm.private_dns.record_sets.create_or_update(group, zone.name, "A", "recordA", {
        "properties": {"metadata": {"key1": "value1"}, "ttl": 3600, "aRecords": [{"ipv4Address": "1.2.3.4"}]}})
    assert isinstance(record, RecordSet) and record.fqdn == "recordA.privatelink.blob.core.windows.net."
    # PrivateEndpointDnsZoneGroupCreate.json
    zone_group = arm.network.private_dns_zone_groups.begin_create_or_update(group, "testPe", "testPdnsgroup", {
        "properties": {"privateDnsZoneConfigs": [{"properties": {
            "privateDnsZoneId": f"{scope}/Microsoft.Network/privateDnsZones/{zone.name}"}}]}}).result()
    assert isinstance(zone_group, PrivateDnsZoneGroup)
    assert zone_group.private_dns_zone_configs[0].record_sets[0].ip_addresses == ["10.0.0.6"]
    arm.private_dns.virtual_network_links.begin_delete(group, zone.name, "vnet-link").result()


def test_compute_examples(arm: Arm, group: str, unique: Callable[[str], str], tmp_path: Path) -> None:
    cache = arm.storage.storage_accounts.get_properties("rg-migration", "vmshiftcache01")
    blob_url = upload_page_blob(arm, unique("example-") + ".vhd", fixed_vhd(tmp_path, os.urandom(1024 * 1024)))
    # Disk_Create_ByImportingBlobFromTheSameSubscription.json: the blob named by its public URL form
    source_uri = f"https://vmshiftcache01.blob.core.windows.net/{blob_url.split('/', 4)[-1]}"
    disk = arm.compute.disks.begin_create_or_update(group, "myDisk", {
        "location": "West Europe", "properties": {"creationData": {
            "createOption": "Import", "storageAccountId": cache.id, "sourceUri": source_uri}, "osType": "Windows"}}
    ).result()
    assert isinstance(disk, Disk) and disk.location == "westeurope" and disk.disk_size_bytes == 1024 * 1024
    nic = arm.network.network_interfaces.begin_create_or_update(group, "myNic", {
        "location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": arm.network.subnets.get("rg-target", "vnet-target", "snet-app").id}}}]}}).result()
    # VirtualMachine_Create_WithExistingManagedOsDisk (createOption Attach)
    vm = arm.compute.virtual_machines.begin_create_or_update(group, "myVM", {
        "location": "westeurope", "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {"osDisk": {"osType": "Windows", "name": "myDisk", "createOption": "Attach",
                                          "managedDisk": {"id": disk.id}}},
            "networkProfile": {"networkInterfaces": [{"id": nic.id, "properties": {"primary": True}}]},
            "licenseType": "Windows_Server"}}).result()
    assert isinstance(vm, VirtualMachine) and vm.storage_profile.os_disk.managed_disk.id == disk.id
    assert vm.license_type == "Windows_Server"
