"""Request bodies shaped as the REST specs' examples (Azure/azure-rest-api-specs, `examples/` of each
operation), sent as JSON through the SDK clients; the answers carry what was asked. Where an example names
a region the lab does not have (westus), the lab's eastus or westeurope stands in."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from arm_clients import LOCATION, MIB, Arm, fixed_vhd, upload_page_blob
from azure.core.exceptions import ResourceNotFoundError

pytestmark = pytest.mark.lab


def test_network_and_private_dns_examples(arm: Arm, group: str, unique: Callable[[str], str]) -> None:
    scope = f"{arm.scope(group)}/providers"
    # VirtualNetworkCreateSubnet.json
    vnet = arm.network.virtual_networks.begin_create_or_update(group, "test-vnet", {
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                       "subnets": [{"name": "test-1", "properties": {"addressPrefix": "10.0.0.0/24"}}]},
        "location": "eastus"}).result()
    assert (vnet.name, vnet.location, vnet.address_space.address_prefixes) == ("test-vnet", "eastus", ["10.0.0.0/16"])
    assert [(s.name, s.address_prefix) for s in vnet.subnets] == [("test-1", "10.0.0.0/24")]
    # NetworkInterfaceCreate.json
    nic = arm.network.network_interfaces.begin_create_or_update(group, "test-nic", {
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": f"{vnet.id}/subnets/test-1"}}}], "enableAcceleratedNetworking": True},
        "location": "eastus"}).result()
    [ip_configuration] = nic.ip_configurations
    assert (ip_configuration.name, ip_configuration.subnet.id) == ("ipconfig1", f"{vnet.id}/subnets/test-1")
    assert ip_configuration.private_ip_address == "10.0.0.4" and nic.enable_accelerated_networking is True
    # StorageAccountCreate.json (the fields vmshift's cache account uses)
    account = unique("examplesa")
    created = arm.storage.storage_accounts.begin_create(group, account, {
        "sku": {"name": "Standard_GRS"}, "kind": "StorageV2", "location": "eastus",
        "properties": {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2",
                       "encryption": {"services": {"blob": {"keyType": "Account", "enabled": True}},
                                      "keySource": "Microsoft.Storage"},
                       "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny"}},
        "tags": {"key1": "value1"}}).result()
    assert (created.name, created.kind, created.sku.name, created.tags) == (account, "StorageV2", "Standard_GRS",
                                                                           {"key1": "value1"})
    assert (created.allow_blob_public_access, created.minimum_tls_version) == (False, "TLS1_2")
    assert created.network_rule_set.default_action == "Deny"
    # StorageAccountUpdate.json (its access and network fields; PATCH changes only what it names)
    updated = arm.storage.storage_accounts.update(group, account, {"properties": {
        "allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": True,
        "networkAcls": {"defaultAction": "Allow"},
        "encryption": {"services": {"file": {"keyType": "Account", "enabled": True},
                                    "blob": {"keyType": "Account", "enabled": True}},
                       "keySource": "Microsoft.Storage"}}})
    assert (updated.network_rule_set.default_action, updated.allow_shared_key_access) == ("Allow", True)
    assert updated.tags == {"key1": "value1"}
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
    assert (endpoint.name, endpoint.subnet.id) == ("testPe", f"{vnet.id}/subnets/test-1")
    assert endpoint.custom_dns_configs[0].ip_addresses == ["10.0.0.6"]
    assert endpoint.network_interfaces[0].id.endswith("/networkInterfaces/testPeNic")
    state = endpoint.private_link_service_connections[0].private_link_service_connection_state
    assert (state.status, state.actions_required) == ("Approved", "None")
    # PrivateEndpointCreateForManualApproval.json, then StorageAccountPutPrivateEndpointConnection.json
    manual = arm.network.private_endpoints.begin_create_or_update(group, "testPeManual", {
        "location": "eastus", "properties": {
            "manualPrivateLinkServiceConnections": [{"properties": {
                "privateLinkServiceId": created.id, "groupIds": ["blob"],
                "requestMessage": "Please manually approve my connection."}}],
            "subnet": {"id": f"{vnet.id}/subnets/test-1"}}}).result()
    [pending] = [c for c in arm.storage.private_endpoint_connections.list(group, account)
                 if c.private_endpoint.id == manual.id]
    assert pending.private_link_service_connection_state.status == "Pending"
    approved = arm.storage.private_endpoint_connections.put(group, account, pending.name, {"properties": {
        "privateLinkServiceConnectionState": {"status": "Approved", "description": "Auto-Approved"}}})
    assert (approved.private_link_service_connection_state.status,
            approved.private_link_service_connection_state.description) == ("Approved", "Auto-Approved")
    manual = arm.network.private_endpoints.get(group, "testPeManual")
    assert manual.manual_private_link_service_connections[0].private_link_service_connection_state.status \
        == "Approved"
    # PrivateZonePut.json, VirtualNetworkLinkPut.json, RecordSetAPut.json
    zone = arm.private_dns.private_zones.begin_create_or_update(group, "privatelink.blob.core.windows.net", {
        "location": "Global", "tags": {"key1": "value1"}}).result()
    assert (zone.name, zone.location, zone.tags) == ("privatelink.blob.core.windows.net", "global",
                                                     {"key1": "value1"})
    assert zone.number_of_record_sets == 1  # the zone's SOA
    link = arm.private_dns.virtual_network_links.begin_create_or_update(group, zone.name, "vnet-link", {
        "location": "Global", "properties": {"virtualNetwork": {"id": vnet.id}, "registrationEnabled": False}}
    ).result()
    assert (link.virtual_network.id, link.registration_enabled) == (vnet.id, False)
    assert link.virtual_network_link_state == "Completed"
    record = arm.private_dns.record_sets.create_or_update(group, zone.name, "A", "recordA", {
        "properties": {"metadata": {"key1": "value1"}, "ttl": 3600, "aRecords": [{"ipv4Address": "1.2.3.4"}]}})
    assert (record.ttl, record.metadata, [a.ipv4_address for a in record.a_records]) == (3600, {"key1": "value1"},
                                                                                         ["1.2.3.4"])
    assert record.fqdn == "recordA.privatelink.blob.core.windows.net."
    # PrivateEndpointDnsZoneGroupCreate.json
    zone_group = arm.network.private_dns_zone_groups.begin_create_or_update(group, "testPe", "testPdnsgroup", {
        "properties": {"privateDnsZoneConfigs": [{"properties": {
            "privateDnsZoneId": f"{scope}/Microsoft.Network/privateDnsZones/{zone.name}"}}]}}).result()
    assert zone_group.name == "testPdnsgroup"
    assert zone_group.private_dns_zone_configs[0].private_dns_zone_id.endswith(f"/privateDnsZones/{zone.name}")
    assert zone_group.private_dns_zone_configs[0].record_sets[0].ip_addresses == ["10.0.0.6"]
    arm.private_dns.virtual_network_links.begin_delete(group, zone.name, "vnet-link").result()


def test_compute_examples(arm: Arm, group: str, unique: Callable[[str], str], tmp_path: Path) -> None:
    cache = arm.storage.storage_accounts.get_properties("rg-migration", "vmshiftcache01")
    vhd = fixed_vhd(tmp_path, os.urandom(MIB))
    blob_url = upload_page_blob(arm, unique("example-") + ".vhd", vhd)
    # Disk_Create_ByImportingBlobFromTheSameSubscription.json: the blob named by its public URL form
    source_uri = f"https://vmshiftcache01.blob.core.windows.net/{blob_url.split('/', 4)[-1]}"
    disk = arm.compute.disks.begin_create_or_update(group, "myDisk", {
        "location": "West Europe", "properties": {"creationData": {
            "createOption": "Import", "storageAccountId": cache.id, "sourceUri": source_uri}, "osType": "Windows"}}
    ).result()
    assert (disk.name, disk.location, disk.os_type, disk.disk_size_bytes) == ("myDisk", "westeurope", "Windows",
                                                                              MIB)
    assert (disk.creation_data.create_option, disk.creation_data.source_uri) == ("Import", source_uri)
    # Disk_BeginGetAccess.json
    access = arm.compute.disks.begin_grant_access(group, "myDisk", {
        "access": "Read", "durationInSeconds": 300, "fileFormat": "VHD"}).result()
    assert requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30).content == vhd
    arm.compute.disks.begin_revoke_access(group, "myDisk").result()
    # Disk_Create_ByCopyingASnapshot.json's source, then Snapshot_Create_FromAnExistingSnapshot.json, whose
    # sourceResourceId has no leading slash
    first = arm.compute.snapshots.begin_create_or_update(group, "mySnapshot1", {
        "location": "West Europe", "properties": {"creationData": {"createOption": "Copy",
                                                                    "sourceResourceId": disk.id}}}).result()
    second = arm.compute.snapshots.begin_create_or_update(group, "mySnapshot2", {
        "location": "West Europe", "properties": {"creationData": {
            "createOption": "Copy", "sourceResourceId": first.id.lstrip("/")}}}).result()
    assert (second.name, second.disk_size_bytes, second.provisioning_state) == ("mySnapshot2", MIB, "Succeeded")
    assert second.creation_data.source_resource_id == first.id.lstrip("/")
    # DiskEncryptionSet_Create.json
    des = arm.compute.disk_encryption_sets.begin_create_or_update(group, "myDiskEncryptionSet", {
        "location": "West Europe", "identity": {"type": "SystemAssigned"},
        "properties": {"activeKey": {
            "sourceVault": {"id": f"{arm.scope(group)}/providers/Microsoft.KeyVault/vaults/myVMVault"},
            "keyUrl": "https://myvmvault.vault-int.azure-int.net/keys/{key}"},
            "encryptionType": "EncryptionAtRestWithCustomerKey"}}).result()
    assert (des.encryption_type, des.active_key.key_url) == ("EncryptionAtRestWithCustomerKey",
                                                             "https://myvmvault.vault-int.azure-int.net/keys/{key}")
    assert des.identity.type == "SystemAssigned" and des.identity.principal_id
    # AvailabilitySet_Create.json: no sku in the body, and Azure answers Classic
    avset = arm.compute.availability_sets.create_or_update(group, "myAvailabilitySet", {
        "location": "eastus", "properties": {"platformFaultDomainCount": 2, "platformUpdateDomainCount": 20}})
    assert (avset.sku.name, avset.platform_fault_domain_count, avset.platform_update_domain_count) \
        == ("Classic", 2, 20)
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
    assert (vm.name, vm.hardware_profile.vm_size, vm.license_type) == ("myVM", "Standard_D2s_v5", "Windows_Server")
    assert (vm.storage_profile.os_disk.managed_disk.id, vm.storage_profile.os_disk.os_type) == (disk.id, "Windows")
    assert [(n.id, n.primary) for n in vm.network_profile.network_interfaces] == [(nic.id, True)]


def test_resource_group_example(arm: Arm, unique: Callable[[str], str]) -> None:
    # CreateResourceGroup.json
    name = unique("my-resource-group-")
    created = arm.resources.resource_groups.create_or_update(name, {"location": "eastus"})
    assert (created.id, created.name, created.location) == (f"/subscriptions/{arm.subscription_id}/resourceGroups/"
                                                            f"{name}", name, "eastus")
    assert created.properties.provisioning_state == "Succeeded"
    arm.resources.resource_groups.begin_delete(name).result()


def test_a_group_lists_its_tracked_resources_and_not_their_parts(arm: Arm, group: str, endpoint_subnet: str) -> None:
    # Resources_ListByResourceGroup: what `az resource list -g` shows; a subnet, a record set are parts of others.
    nic = arm.network.network_interfaces.begin_create_or_update(group, "listed-nic", {
        "location": LOCATION, "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": endpoint_subnet}}}]}}).result()
    zone = arm.private_dns.private_zones.begin_create_or_update(group, "listed.example",
                                                                {"location": "global"}).result()
    vnet_id = endpoint_subnet.rsplit("/subnets/", 1)[0]
    link = arm.private_dns.virtual_network_links.begin_create_or_update(group, zone.name, "listed-link", {
        "location": "global", "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": False}}).result()
    arm.private_dns.record_sets.create_or_update(group, zone.name, "A", "app", {
        "properties": {"ttl": 10, "aRecords": [{"ipv4Address": "10.60.2.9"}]}})

    listed = list(arm.resources.resources.list_by_resource_group(group))

    assert [(r.id, r.type, r.location) for r in listed] == [
        (vnet_id, "Microsoft.Network/virtualNetworks", LOCATION),
        (nic.id, "Microsoft.Network/networkInterfaces", LOCATION),
        (zone.id, "Microsoft.Network/privateDnsZones", "global"),
        (link.id, "Microsoft.Network/privateDnsZones/virtualNetworkLinks", "global")]
    assert {r.name for r in listed} == {vnet_id.rsplit("/", 1)[1], "listed-nic", "listed.example", "listed-link"}
    assert all(r.properties is None and r.provisioning_state is None for r in listed)
    expanded = list(arm.resources.resources.list_by_resource_group(group, expand="provisioningState"))
    assert {r.provisioning_state for r in expanded} == {"Succeeded"}
    with pytest.raises(ResourceNotFoundError) as missing:
        list(arm.resources.resources.list_by_resource_group("rg-never-made"))
    assert missing.value.error.code == "ResourceGroupNotFound"
