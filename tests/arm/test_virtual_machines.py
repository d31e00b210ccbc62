"""Building the migrated VM: sizes per region, attached disks and NICs, and the refusals Azure makes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from arm_clients import LOCATION, MIB, Arm
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.compute.models import (
    AvailabilitySet,
    CreationData,
    DataDisk,
    Disk,
    DiskCreateOption,
    DiskSku,
    GrantAccessData,
    HardwareProfile,
    ManagedDiskParameters,
    NetworkInterfaceReference,
    NetworkProfile,
    OSDisk,
    StorageProfile,
    SubResource,
    VirtualMachine,
)
from azure.mgmt.network.models import NetworkInterface, NetworkInterfaceIPConfiguration
from azure.mgmt.network.models import Subnet as NetworkSubnet

pytestmark = pytest.mark.lab


def empty_disk(arm: Arm, group: str, name: str, location: str = LOCATION, zones: list[str] | None = None,
               sku: str = "Premium_LRS", generation: str = "V1") -> str:
    return arm.compute.disks.begin_create_or_update(group, name, Disk(
        location=location, sku=DiskSku(name=sku), disk_size_gb=1, os_type="Linux", zones=zones,
        hyper_v_generation=generation,
        creation_data=CreationData(create_option=DiskCreateOption.EMPTY))).result().id


def nic(arm: Arm, group: str, name: str, static_ip: str | None = None) -> str:
    subnet = arm.network.subnets.get("rg-target", "vnet-test", "snet-app")
    configuration = NetworkInterfaceIPConfiguration(name="ipconfig1", subnet=NetworkSubnet(id=subnet.id))
    if static_ip:
        configuration.private_ip_allocation_method = "Static"
        configuration.private_ip_address = static_ip
    return arm.network.network_interfaces.begin_create_or_update(group, name, NetworkInterface(
        location=LOCATION, ip_configurations=[configuration])).result().id


def vm_body(os_disk: str, nics: list[str], size: str = "Standard_D2s_v5", data_disks: list[str] = (),
            **extra: object) -> VirtualMachine:
    return VirtualMachine(
        location=LOCATION, hardware_profile=HardwareProfile(vm_size=size),
        storage_profile=StorageProfile(
            os_disk=OSDisk(create_option="Attach", os_type="Linux", managed_disk=ManagedDiskParameters(id=os_disk)),
            data_disks=[DataDisk(lun=i, create_option="Attach", managed_disk=ManagedDiskParameters(id=d))
                        for i, d in enumerate(data_disks)]),
        network_profile=NetworkProfile(network_interfaces=[NetworkInterfaceReference(id=n) for n in nics]),
        **extra)


def refused(call: Callable[[], object]) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as raised:
        call()
    return raised.value


def refusal(call: Callable[[], object]) -> str:
    return refused(call).error.code


def test_vm_from_attached_disks_runs_and_powers_off(arm: Arm, group: str) -> None:
    os_disk, data_disk = empty_disk(arm, group, "vm1-os"), empty_disk(arm, group, "vm1-data")
    vm = arm.compute.virtual_machines.begin_create_or_update(group, "vm1", vm_body(
        os_disk, [nic(arm, group, "vm1-nic", static_ip="10.30.1.50")], data_disks=[data_disk],
        license_type="RHEL_BYOS", tags={"vmshift-wave": "w1"})).result()
    assert vm.provisioning_state == "Succeeded"
    assert vm.tags == {"vmshift-wave": "w1"}
    assert arm.compute.virtual_machines.get(group, "vm1").tags == {"vmshift-wave": "w1"}
    assert vm.storage_profile.data_disks[0].managed_disk.id == data_disk
    assert arm.compute.disks.get(group, "vm1-os").disk_state == "Attached"
    assert arm.network.network_interfaces.get(group, "vm1-nic").ip_configurations[0].private_ip_address \
        == "10.30.1.50"
    statuses = [s.code for s in arm.compute.virtual_machines.instance_view(group, "vm1").statuses]
    assert "PowerState/running" in statuses
    arm.compute.virtual_machines.begin_power_off(group, "vm1").result()
    statuses = [s.code for s in arm.compute.virtual_machines.instance_view(group, "vm1").statuses]
    assert "PowerState/stopped" in statuses
    arm.compute.virtual_machines.begin_deallocate(group, "vm1").result()
    statuses = [s.code for s in arm.compute.virtual_machines.instance_view(group, "vm1").statuses]
    assert "PowerState/deallocated" in statuses
    arm.compute.virtual_machines.begin_start(group, "vm1").result()
    expanded = arm.compute.virtual_machines.get(group, "vm1", expand="instanceView")
    assert "PowerState/running" in [s.code for s in expanded.instance_view.statuses]
    arm.compute.virtual_machines.begin_delete(group, "vm1").result()
    with pytest.raises(ResourceNotFoundError):
        arm.compute.virtual_machines.get(group, "vm1")
    assert arm.compute.disks.get(group, "vm1-os").disk_state == "Unattached"


def test_zonal_vm_runs_in_the_zone_of_its_disks(arm: Arm, group: str) -> None:
    os_disk = empty_disk(arm, group, "zonal-os", zones=["2"])
    vm = arm.compute.virtual_machines.begin_create_or_update(group, "vm-zonal", vm_body(
        os_disk, [nic(arm, group, "zonal-nic")], zones=["2"])).result()
    assert vm.zones == ["2"]
    assert arm.compute.virtual_machines.get(group, "vm-zonal").zones == ["2"]
    other_zone = empty_disk(arm, group, "zonal-data", zones=["3"])
    mismatch = refused(lambda: arm.compute.virtual_machines.begin_create_or_update(group, "vm-zonal", vm_body(
        os_disk, [nic(arm, group, "zonal-nic")], data_disks=[other_zone], zones=["2"])))
    assert mismatch.error.code == "BadRequest" and "zone 3" in mismatch.error.message


def test_sizes_and_skus_are_listed_per_region_with_zones(arm: Arm) -> None:
    sizes = {s.name: s for s in arm.compute.virtual_machine_sizes.list("westeurope")}
    assert sizes["Standard_D4s_v5"].number_of_cores == 4
    assert sizes["Standard_D4s_v5"].max_data_disk_count == 8
    skus = list(arm.compute.resource_skus.list(filter="location eq 'westeurope'"))
    d2 = next(s for s in skus if s.name == "Standard_D2s_v5")
    assert d2.location_info[0].zones == ["1", "2", "3"]
    assert {c.name: c.value for c in d2.capabilities}["MemoryGB"] == "8"
    no_zones = list(arm.compute.resource_skus.list(filter="location eq 'northcentralus'"))
    assert no_zones and all(s.location_info[0].zones == [] for s in no_zones)


def test_vm_refusals_carry_azure_codes(arm: Arm, group: str, unique: Callable[[str], str]) -> None:
    os_disk = empty_disk(arm, group, "bad-os")
    nic_id = nic(arm, group, "bad-nic")
    create = arm.compute.virtual_machines.begin_create_or_update
    assert refusal(lambda: create(group, "vm-size", vm_body(os_disk, [nic_id], size="Standard_M416ms_v2"))) \
        == "SkuNotAvailable"
    assert refusal(lambda: create(group, "vm-zone", vm_body(os_disk, [nic_id], size="Standard_E8s_v5",
                                                            zones=["3"]))) == "SkuNotAvailable"
    # Standard_E8s_v5 is in the catalog and offered in westeurope, but not in northeurope.
    north = vm_body(os_disk, [nic_id], size="Standard_E8s_v5")
    north.location = "northeurope"
    not_here = refused(lambda: create(group, "vm-north", north))
    assert (not_here.status_code, not_here.error.code) == (409, "SkuNotAvailable")
    assert "Standard_E8s_v5" in not_here.error.message and "'northeurope'" in not_here.error.message
    own = arm.compute.availability_sets.create_or_update(group, "avset-own", AvailabilitySet(
        location=LOCATION, platform_fault_domain_count=2, platform_update_domain_count=5, sku={"name": "Aligned"}))
    both = refused(lambda: create(group, "vm-both", vm_body(os_disk, [nic_id], zones=["1"],
                                                            availability_set=SubResource(id=own.id))))
    assert (both.status_code, both.error.code, both.error.target) == (400, "InvalidParameter", "availabilitySet")
    assert "both an availability set and an availability zone" in both.error.message
    classic = arm.compute.availability_sets.create_or_update(group, "avset-classic", AvailabilitySet(
        location=LOCATION, platform_fault_domain_count=2, platform_update_domain_count=5))
    assert classic.sku.name == "Classic"
    unmanaged = refused(lambda: create(group, "vm-classic", vm_body(os_disk, [nic_id],
                                                                    availability_set=SubResource(id=classic.id))))
    assert (unmanaged.error.code, unmanaged.error.target) == ("OperationNotAllowed", "vm-classic")
    assert "'Aligned' SKU" in unmanaged.error.message
    avset = arm.compute.availability_sets.get("rg-target", "avset-sql")
    assert refusal(lambda: create(group, "vm-avset", vm_body(os_disk, [nic_id],
                                                             availability_set=SubResource(id=avset.id)))) \
        == "InvalidParameter"
    remote = arm.compute.availability_sets.create_or_update(group, "avset-eus", AvailabilitySet(
        location="eastus", platform_fault_domain_count=2, platform_update_domain_count=5, sku={"name": "Aligned"}))
    assert refusal(lambda: create(group, "vm-avset2", vm_body(os_disk, [nic_id],
                                                              availability_set=SubResource(id=remote.id)))) \
        == "InvalidParameter"
    data = [empty_disk(arm, group, f"many-{i}") for i in range(5)]
    assert refusal(lambda: create(group, "vm-disks", vm_body(os_disk, [nic_id], size="Standard_D2s_v5",
                                                             data_disks=data))) == "OperationNotAllowed"
    far = empty_disk(arm, group, "far-data", location="northeurope")
    assert refusal(lambda: create(group, "vm-far", vm_body(os_disk, [nic_id], data_disks=[far]))) \
        == "InvalidParameter"
    assert refusal(lambda: create(unique("rg-missing-"), "vm-nogroup", vm_body(os_disk, [nic_id]))) \
        == "ResourceGroupNotFound"
    assert refusal(lambda: create(group, "vm_bad-", vm_body(os_disk, [nic_id]))) == "InvalidResourceName"
    assert refusal(lambda: create(group, "bad name!", vm_body(os_disk, [nic_id]))) == "InvalidResourceName"
    gen2 = empty_disk(arm, group, "gen2-os", sku="Standard_LRS", generation="V2")
    assert refusal(lambda: create(group, "vm-gen2", vm_body(gen2, [nic_id], size="Standard_A2_v2"))) == "BadRequest"
    assert refusal(lambda: create(group, "vm-premium", vm_body(os_disk, [nic_id], size="Standard_A2_v2"))) \
        == "BadRequest"
    ultra = empty_disk(arm, group, "ultra-os", sku="UltraSSD_LRS")
    assert refusal(lambda: create(group, "vm-ultra", vm_body(ultra, [nic_id]))) == "InvalidParameter"
    assert [vm.name for vm in arm.compute.virtual_machines.list(group)] == []


def test_put_is_idempotent_and_a_missing_resource_is_404(arm: Arm, group: str) -> None:
    put_statuses: list[int] = []

    def record_put(response: PipelineResponse) -> None:
        # The hook also sees the poller's GETs; only the PUTs' answers are ARM's 201-then-200.
        if response.http_request.method == "PUT":
            put_statuses.append(response.http_response.status_code)

    body = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.70.0.0/16"]}}}
    for _ in range(2):
        vnet = arm.network.virtual_networks.begin_create_or_update(group, "vnet-idem", body,
                                                                   raw_response_hook=record_put).result()
    assert put_statuses == [201, 200]
    assert vnet.id == f"/subscriptions/{arm.subscription_id}/resourceGroups/{group}/providers/Microsoft.Network/" \
                      "virtualNetworks/vnet-idem"
    assert vnet.type == "Microsoft.Network/virtualNetworks"
    assert [v.name for v in arm.network.virtual_networks.list(group)] == ["vnet-idem"]
    with pytest.raises(ResourceNotFoundError) as missing:
        arm.network.virtual_networks.get(group, "vnet-nothere")
    assert missing.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as missing:
        arm.network.virtual_networks.get("rg-nothere", "vnet-idem")
    assert missing.value.error.code == "ResourceGroupNotFound"


def test_overlapping_subnets_and_addresses_outside_the_subnet_are_refused(arm: Arm, group: str) -> None:
    def vnet(subnets: list[tuple[str, str]]) -> dict:
        return {"location": LOCATION, "properties": {
            "addressSpace": {"addressPrefixes": ["10.80.0.0/16"]},
            "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets]}}

    create = arm.network.virtual_networks.begin_create_or_update
    assert refusal(lambda: create(group, "vnet-overlap", vnet([("a", "10.80.1.0/24"), ("b", "10.80.1.128/25")]))) \
        == "NetcfgSubnetRangesOverlap"
    assert refusal(lambda: create(group, "vnet-outside", vnet([("a", "10.81.1.0/24")]))) \
        == "NetcfgSubnetRangeOutsideVnet"
    spaces = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.80.0.0/16",
                                                                                      "10.80.128.0/17"]}}}
    assert refusal(lambda: create(group, "vnet-spaces", spaces)) == "VnetAddressSpacesOverlap"
    no_length = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.80.0.0"]}}}
    bad_format = refused(lambda: create(group, "vnet-format", no_length)).error
    assert (bad_format.code, bad_format.target) == ("InvalidAddressPrefixFormat",
                                                    "properties.addressSpace.addressPrefixes")
    assert "10.80.0.0 is not formatted correctly" in bad_format.message
    assert refusal(lambda: create(group, "vnet-subnet-format", vnet([("a", "10.80.1.0/33")]))) \
        == "InvalidAddressPrefixFormat"
    assert [v.name for v in arm.network.virtual_networks.list(group)] == []
    # Azure keeps .0-.3 and the last address of every subnet (snet-app is 10.30.1.0/24).
    for reserved in ("10.30.1.1", "10.30.1.3", "10.30.1.255"):
        assert refusal(lambda address=reserved: nic(arm, group, "nic-reserved", static_ip=address)) \
            == "PrivateIPAddressInReservedRange"
    assert refusal(lambda: nic(arm, group, "nic-outside", static_ip="10.99.0.9")) == "PrivateIPAddressNotInSubnet"
    nic(arm, group, "nic-first", static_ip="10.30.1.60")
    assert refusal(lambda: nic(arm, group, "nic-second", static_ip="10.30.1.60")) == "PrivateIPAddressInUse"


def test_a_disk_with_an_open_read_link_is_attached_only_after_access_is_revoked(arm: Arm, group: str) -> None:
    os_disk = empty_disk(arm, group, "disk-granted")
    arm.compute.disks.begin_grant_access(group, "disk-granted", GrantAccessData(
        access="Read", duration_in_seconds=600)).result()
    body = vm_body(os_disk, [nic(arm, group, "nic-granted")])

    error = refused(lambda: arm.compute.virtual_machines.begin_create_or_update(group, "vm-granted", body).result())
    assert (error.status_code, error.error.code) == (409, "OperationNotAllowed")
    assert "endGetAccess" in error.error.message
    assert arm.compute.disks.get(group, "disk-granted").disk_state == "ActiveSAS"

    arm.compute.disks.begin_revoke_access(group, "disk-granted").result()
    arm.compute.virtual_machines.begin_create_or_update(group, "vm-granted", body).result()
    assert arm.compute.disks.get(group, "disk-granted").disk_state == "Attached"


def test_an_uploaded_disk_is_attached_only_once_sealed_and_only_with_its_vhd_footer(arm: Arm, group: str) -> None:
    os_disk = arm.compute.disks.begin_create_or_update(group, "disk-upload", Disk(
        location=LOCATION, sku=DiskSku(name="Premium_LRS"), os_type="Linux",
        creation_data=CreationData(create_option=DiskCreateOption.UPLOAD, upload_size_bytes=20 * MIB + 512))
    ).result().id
    body = vm_body(os_disk, [nic(arm, group, "nic-upload")])
    ready = refused(lambda: arm.compute.virtual_machines.begin_create_or_update(group, "vm-upload", body).result())
    assert (ready.status_code, ready.error.code) == (409, "OperationNotAllowed")
    assert "ReadyToUpload" in ready.error.message
    arm.compute.disks.begin_grant_access(group, "disk-upload", GrantAccessData(
        access="Write", duration_in_seconds=600)).result()
    arm.compute.disks.begin_revoke_access(group, "disk-upload").result()  # ended with no footer written

    no_footer = refused(lambda: arm.compute.virtual_machines.begin_create_or_update(group, "vm-upload", body).result())
    assert no_footer.error.code == "InvalidParameter" and "footer" in no_footer.error.message
