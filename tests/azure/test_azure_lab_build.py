"""On the lab: target VMs from recovery points, every option checked on the resources Azure returns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from vmshift.azure import test_migration as tm
from vmshift.azure.cutover import CutoverOptions, cutover, rollback_cutover
from vmshift.azure.disks import CUSTOMER_KEY, PLATFORM_AND_CUSTOMER_KEYS, PLATFORM_KEY
from vmshift.azure.errors import BuildInputInvalid, DiskFromOtherRecoveryPoint, DiskVerificationFailed
from vmshift.azure.tags import PURPOSE_TAG, RUN_TAG, SOURCE_VM_TAG
from vmshift.azure.vms import TargetDisk, TargetVmSpec, build_vm, import_disks, plan_build
from vmshift.replication.reader import LocalDiskReader

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("tidy_target_group")]

MIB = 1 << 20
REGION_WITHOUT_ZONES = "northcentralus"  # no availability zones in Azure, nor in the lab


def _pattern(seed: int, size: int) -> bytes:
    block = bytes((seed * 31 + i) % 251 for i in range(4096))
    data = bytearray(block * (size // len(block)))
    data[MIB : 2 * MIB] = bytes(MIB)  # a hole, as a thin disk has
    return bytes(data)


def _counts(azure) -> tuple[int, int, int]:
    return (
        len(list(azure.compute.virtual_machines.list("rg-target"))),
        len(list(azure.compute.disks.list_by_resource_group("rg-target"))),
        len(list(azure.network.network_interfaces.list("rg-target"))),
    )


@pytest.fixture(scope="module")
def windows_spec(ids, recovery_point) -> TargetVmSpec:
    uris = recovery_point("az-sql-01", {2000: _pattern(1, 4 * MIB), 2001: _pattern(2, 3 * MIB)})
    return TargetVmSpec(
        source_vm="az-sql-01",
        run_id="azure-test-build-1",
        resource_group="rg-target",
        region="westeurope",
        storage_account_id=ids("rg-migration", "storageAccounts", "vmshiftcache01"),
        subnet_id=ids("rg-target", "virtualNetworks", "vnet-target", "snet-app"),
        os_type="Windows",
        firmware="efi",
        vcpus=4,
        memory_mib=16384,
        os_disk_key=2000,
        disks=(TargetDisk(2000, "Premium_LRS", uris[2000]), TargetDisk(2001, "StandardSSD_LRS", uris[2001])),
        zone="1",
        encryption_type=CUSTOMER_KEY,
        disk_encryption_set="des-cmk",
        hybrid_benefit=True,
        static_ip="10.20.1.50",
        vm_tags={"app": "sql"},
        disk_tags={"backup": "daily"},
        nic_tags={"vlan": "120"},
    )


@pytest.fixture(scope="module")
def linux_spec(ids, recovery_point) -> TargetVmSpec:
    uris = recovery_point("az-linux-01", {2000: _pattern(3, 2 * MIB)})
    return TargetVmSpec(
        source_vm="az-linux-01",
        run_id="azure-test-build-2",
        resource_group="rg-target",
        region="westeurope",
        storage_account_id=ids("rg-migration", "storageAccounts", "vmshiftcache01"),
        subnet_id=ids("rg-target", "virtualNetworks", "vnet-target", "snet-data"),
        os_type="Linux",
        firmware="bios",
        vcpus=2,
        memory_mib=4096,
        os_disk_key=2000,
        disks=(TargetDisk(2000, "Standard_LRS", uris[2000]),),
        assessed_size="Standard_D2s_v5",
        availability_set="avset-sql",
        encryption_type=PLATFORM_AND_CUSTOMER_KEYS,
        disk_encryption_set="des-double",
    )


def test_windows_efi_vm_gets_every_option_on_its_resources(azure, ids, windows_spec):
    plan = plan_build(azure, windows_spec)
    built = build_vm(azure, plan)
    vm = azure.compute.virtual_machines.get("rg-target", "az-sql-01")
    assert vm.id == built.vm_id
    assert vm.zones == ["1"]
    assert vm.properties.license_type == "Windows_Server"
    # The smallest size with 4 vCPUs, 16 GiB, a data-disk slot, Generation 2 and Premium SSD in zone 1.
    assert (plan.size.name, plan.size.rule) == ("Standard_D4s_v5", "closest match")
    assert vm.properties.hardware_profile.vm_size == "Standard_D4s_v5"
    assert vm.properties.availability_set is None
    assert vm.tags == {
        "app": "sql", SOURCE_VM_TAG: "az-sql-01", RUN_TAG: "azure-test-build-1", PURPOSE_TAG: "migration"
    }
    storage = vm.properties.storage_profile
    assert storage.os_disk.managed_disk.id.lower() == built.disk_ids[0].lower()
    assert [(d.lun, d.managed_disk.id.lower()) for d in storage.data_disks] == [(0, built.disk_ids[1].lower())]

    des = ids("rg-target", "diskEncryptionSets", "des-cmk").lower()
    os_disk = azure.compute.disks.get("rg-target", "az-sql-01-osdisk")
    data_disk = azure.compute.disks.get("rg-target", "az-sql-01-datadisk-0")
    assert (os_disk.sku.name, data_disk.sku.name) == ("Premium_LRS", "StandardSSD_LRS")
    assert (os_disk.properties.os_type, os_disk.properties.hyper_v_generation) == ("Windows", "V2")
    for disk, key in ((os_disk, 2000), (data_disk, 2001)):
        creation = disk.properties.creation_data
        assert creation.create_option == "Import"
        assert creation.source_uri == windows_spec.disks[key - 2000].source_uri
        assert creation.storage_account_id.lower() == windows_spec.storage_account_id.lower()
        assert disk.properties.encryption.type == CUSTOMER_KEY
        assert disk.properties.encryption.disk_encryption_set_id.lower() == des
        assert disk.zones == ["1"]
        assert disk.tags[SOURCE_VM_TAG] == "az-sql-01" and disk.tags["backup"] == "daily"
    assert os_disk.properties.disk_size_bytes == 4 * MIB

    nic = azure.network.network_interfaces.get("rg-target", "az-sql-01-nic")
    ip = nic.properties.ip_configurations[0].properties
    assert (ip.private_ip_address, ip.private_ip_allocation_method) == ("10.20.1.50", "Static")
    assert ip.subnet.id.lower() == windows_spec.subnet_id.lower()
    assert nic.tags["vlan"] == "120" and nic.tags[PURPOSE_TAG] == "migration"

    counts = _counts(azure)
    again = build_vm(azure, plan_build(azure, windows_spec))
    assert again == built
    assert _counts(azure) == counts


def test_linux_bios_vm_in_an_availability_set_with_double_encryption(azure, ids, linux_spec):
    built = build_vm(azure, plan_build(azure, linux_spec))
    assert (built.size.name, built.size.rule) == ("Standard_D2s_v5", "assessment")
    vm = azure.compute.virtual_machines.get("rg-target", built.vm_name)
    assert vm.properties.hardware_profile.vm_size == "Standard_D2s_v5"
    assert vm.properties.availability_set.id.lower() == ids("rg-target", "availabilitySets", "avset-sql").lower()
    assert vm.properties.license_type is None
    assert not vm.zones
    disk = azure.compute.disks.get("rg-target", "az-linux-01-osdisk")
    assert (disk.properties.os_type, disk.properties.hyper_v_generation) == ("Linux", "V1")
    assert disk.sku.name == "Standard_LRS"
    assert disk.properties.encryption.type == PLATFORM_AND_CUSTOMER_KEYS
    assert disk.properties.encryption.disk_encryption_set_id.lower() == (
        ids("rg-target", "diskEncryptionSets", "des-double").lower()
    )
    nic = azure.network.network_interfaces.get("rg-target", "az-linux-01-nic")
    assert nic.properties.ip_configurations[0].properties.private_ip_allocation_method == "Dynamic"


def test_the_plans_os_disk_becomes_the_os_disk_and_the_others_data_disks(azure, windows_spec):
    spec = replace(
        windows_spec,
        name="sql-os-second",
        os_disk_key=2001,
        zone=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        static_ip=None,
    )
    built = build_vm(azure, plan_build(azure, spec))
    storage = azure.compute.virtual_machines.get("rg-target", built.vm_name).properties.storage_profile
    os_disk = azure.compute.disks.get("rg-target", "sql-os-second-osdisk")
    data_disk = azure.compute.disks.get("rg-target", "sql-os-second-datadisk-0")
    assert storage.os_disk.managed_disk.id.lower() == os_disk.id.lower()
    assert [d.managed_disk.id.lower() for d in storage.data_disks] == [data_disk.id.lower()]
    assert os_disk.properties.creation_data.source_uri == windows_spec.disks[1].source_uri
    assert data_disk.properties.creation_data.source_uri == windows_spec.disks[0].source_uri
    assert (os_disk.properties.disk_size_bytes, data_disk.properties.disk_size_bytes) == (3 * MIB, 4 * MIB)
    assert os_disk.sku.name == "StandardSSD_LRS" and os_disk.properties.os_type == "Windows"
    assert data_disk.properties.os_type is None


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"size": "Standard_Imaginary_v9"}, "target_size", "Standard_Imaginary_v9"),
        ({"region": REGION_WITHOUT_ZONES, "zone": "1", "availability_set": None}, "availability_zone", "no avail"),
        ({"zone": "1"}, "availability_set", "not both"),
        ({"encryption_type": CUSTOMER_KEY, "disk_encryption_set": None}, "disk_encryption_set", "needs a disk"),
        ({"os_type": "Linux", "hybrid_benefit": True}, "hybrid_benefit", "Windows guests only"),
        ({"subnet_id": ("rg-target", "virtualNetworks", "vnet-target", "snet-missing")}, "target_subnet", "not exist"),
        ({"availability_set": "avset-missing"}, "availability_set", "avset-missing does not exist in resource group"),
        ({"availability_set": "avset-neu"}, "availability_set", "avset-neu is in northeurope, the VM goes to west"),
        ({"availability_set": ("rg-hub", "availabilitySets", "avset-hub")}, "availability_set",
         "avset-hub is in resource group rg-hub"),
        ({"disk_encryption_set": "des-missing"}, "disk_encryption_set", "des-missing does not exist in resource group"),
        ({"disk_encryption_set": "des-neu"}, "disk_encryption_set", "des-neu is in northeurope, the VM goes to west"),
        ({"disk_encryption_set": ("rg-hub", "diskEncryptionSets", "des-hub")}, "disk_encryption_set",
         "des-hub is in resource group rg-hub"),
        ({"static_ip": "10.99.0.5"}, "static_ip", "outside subnet"),
    ],
)
def test_bad_input_names_vm_and_field_and_creates_nothing(azure, ids, linux_spec, changes, field, problem):
    changes = {name: ids(*value) if isinstance(value, tuple) else value for name, value in changes.items()}
    spec = replace(linux_spec, source_vm="bad-input-01", name="bad-input-01", **changes)
    before = _counts(azure)
    with pytest.raises(BuildInputInvalid) as refused:
        build_vm(azure, plan_build(azure, spec))
    assert (refused.value.vm, refused.value.field) == ("bad-input-01", field)
    assert problem in refused.value.problem
    assert _counts(azure) == before


def test_test_migration_builds_tagged_copy_in_test_vnet_and_cleanup_removes_exactly_it(azure, ids, windows_spec):
    spec = replace(
        windows_spec,
        run_id="azure-test-test-1",
        size="Standard_E4s_v5",
        zone=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        static_ip="10.20.1.60",
    )
    production = _counts(azure)
    test_vnet = ids("rg-target", "virtualNetworks", "vnet-test")
    built = tm.run_test_migration(azure, spec, test_vnet_id=test_vnet)
    assert built.vm_name == "az-sql-01-test"
    vm = azure.compute.virtual_machines.get("rg-target", "az-sql-01-test")
    assert vm.tags[PURPOSE_TAG] == "test-migration" and vm.tags[RUN_TAG] == "azure-test-test-1"
    assert vm.properties.hardware_profile.vm_size == "Standard_E4s_v5" and built.size.rule == "plan"
    nic = azure.network.network_interfaces.get("rg-target", "az-sql-01-test-nic")
    ip = nic.properties.ip_configurations[0].properties
    assert ip.subnet.id.lower() == f"{test_vnet}/subnets/snet-app".lower()
    assert ip.private_ip_allocation_method == "Dynamic"
    disk = azure.compute.disks.get("rg-target", "az-sql-01-test-osdisk")
    assert disk.properties.encryption.type == PLATFORM_KEY and disk.tags[PURPOSE_TAG] == "test-migration"
    assert tm.run_test_migration(azure, spec, test_vnet_id=test_vnet) == built
    assert _counts(azure) == (production[0] + 1, production[1] + 2, production[2] + 1)

    cleaned = tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm="az-sql-01")
    assert sorted(i.rsplit("/", 1)[1] for i in cleaned.deleted) == sorted(
        ["az-sql-01-test", "az-sql-01-test-nic", "az-sql-01-test-osdisk", "az-sql-01-test-datadisk-0"]
    )
    assert _counts(azure) == production
    for resource in [
        *azure.compute.virtual_machines.list("rg-target"),
        *azure.compute.disks.list_by_resource_group("rg-target"),
        *azure.network.network_interfaces.list("rg-target"),
    ]:
        assert (resource.tags or {}).get(PURPOSE_TAG) != "test-migration"
    assert tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm="az-sql-01").deleted == ()


def test_test_migration_into_the_production_vnet_is_refused(azure, ids, windows_spec):
    before = _counts(azure)
    with pytest.raises(BuildInputInvalid) as refused:
        tm.run_test_migration(azure, windows_spec, test_vnet_id=ids("rg-target", "virtualNetworks", "vnet-target"))
    assert (refused.value.vm, refused.value.field) == ("az-sql-01", "test_vnet")
    assert _counts(azure) == before


class ReplicaSource:
    """A stopped source whose disks are local images and whose final delta writes them as a recovery point
    with the mover's page blob code: the Azure half of a cutover, without vCenter."""

    def __init__(self, recovery_point, vm: str, disks: dict[int, bytes], folder: Path) -> None:
        self.recovery_point, self.vm, self.disks, self.folder = recovery_point, vm, disks, folder
        self.events: list[str] = []

    was_running = True

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        self.events.append(f"shut_down {timeout_s:g} {power_off_after}")
        return self.was_running

    def final_delta(self) -> dict[int, str]:
        self.events.append("final_delta")
        return self.recovery_point(self.vm, self.disks)

    def disk_reader(self, key: int) -> LocalDiskReader:
        image = self.folder / f"{self.vm}-{key}.img"
        image.write_bytes(self.disks[key])
        return LocalDiskReader(image)

    def release(self) -> None:
        self.events.append("release")

    def power_on(self) -> None:
        self.events.append("power_on")

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        self.events.append(f"finish {delete_cache_blobs}")

    def replication_finished(self) -> bool:
        return any(event.startswith("finish") for event in self.events)


def test_cutover_verifies_disks_byte_for_byte_then_rollback_restores_the_source(
    azure, linux_spec, recovery_point, tmp_path
):
    disks = {2000: _pattern(7, 3 * MIB), 2016: _pattern(8, 2 * MIB)}
    source = ReplicaSource(recovery_point, "az-rhel-02", disks, tmp_path)
    spec = replace(
        linux_spec,
        source_vm="az-rhel-02",
        run_id="azure-test-cutover-1",
        firmware="efi",
        availability_set=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        disks=(TargetDisk(2000, "StandardSSD_LRS", "pending"), TargetDisk(2016, "Standard_LRS", "pending")),
    )
    result = cutover(azure, spec, source, CutoverOptions(shutdown_timeout_s=30))
    assert source.events == ["shut_down 30 True", "final_delta", "release"]
    assert [(v.key, v.equal, v.bytes_compared) for v in result.verifications] == [
        (2000, True, 3 * MIB),
        (2016, True, 2 * MIB),
    ]
    vm = azure.compute.virtual_machines.get("rg-target", "az-rhel-02")
    assert vm.properties.storage_profile.os_disk.managed_disk.id.lower() == result.built.disk_ids[0].lower()
    assert azure.compute.disks.get("rg-target", "az-rhel-02-osdisk").properties.hyper_v_generation == "V2"
    assert cutover(azure, spec, source).built == result.built
    assert source.events == ["shut_down 30 True", "final_delta", "release"]

    deleted = rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02")
    assert sorted(i.rsplit("/", 1)[1] for i in deleted) == ["az-rhel-02", "az-rhel-02-nic"]
    assert source.events[-1] == "power_on"
    kept = azure.compute.disks.get("rg-target", "az-rhel-02-osdisk")
    assert kept.id == result.built.disk_ids[0]
    # Cut over again after the rollback: the kept disks hold the first recovery point, so they are imported anew.
    again = cutover(azure, spec, source, CutoverOptions(leave_source_running=True))
    assert again.built == result.built and all(v.equal for v in again.verifications)
    reimported = azure.compute.disks.get("rg-target", "az-rhel-02-osdisk").properties.creation_data.source_uri
    assert reimported != kept.properties.creation_data.source_uri
    deleted = rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02", delete_disks=True)
    assert deleted == (result.built.vm_id, result.built.nic_id, *result.built.disk_ids)
    remaining = [d.name for d in azure.compute.disks.list_by_resource_group("rg-target")]
    assert not [name for name in remaining if name.startswith("az-rhel-02")]
    assert rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02", delete_disks=True) == ()


def test_cutover_refuses_disks_that_differ_from_the_source_and_creates_no_vm(
    azure, linux_spec, recovery_point, tmp_path
):
    class Drifted(ReplicaSource):
        drifted = True  # the guest wrote after the final snapshot, behind vmshift's back

        def disk_reader(self, key: int) -> LocalDiskReader:
            if not self.drifted:
                return super().disk_reader(key)
            image = bytearray(self.disks[key])
            image[5000] ^= 0xFF
            (self.folder / "drifted.img").write_bytes(image)
            return LocalDiskReader(self.folder / "drifted.img")

    source = Drifted(recovery_point, "az-iis-03", {2000: _pattern(9, 2 * MIB)}, tmp_path)
    spec = replace(
        linux_spec,
        source_vm="az-iis-03",
        availability_set=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        disks=(TargetDisk(2000, "Standard_LRS", "pending"),),
    )
    with pytest.raises(DiskVerificationFailed, match="differs from source disk 2000 at byte 5000"):
        cutover(azure, spec, source)
    assert source.events[-1] == "power_on"  # no target VM: the source it shut down runs again
    source.was_running, source.events = False, []
    with pytest.raises(DiskVerificationFailed):
        cutover(azure, spec, source)
    assert "power_on" not in source.events  # a source that was off before the cutover stays off
    assert "az-iis-03" not in [v.name for v in azure.compute.virtual_machines.list("rg-target")]
    assert "az-iis-03-osdisk" not in [d.name for d in azure.compute.disks.list_by_resource_group("rg-target")]
    source.drifted = False
    assert cutover(azure, spec, source).verifications[0].equal


def _disk_sources(azure, vm: str) -> dict[str, str]:
    return {
        d.name: d.properties.creation_data.source_uri
        for d in azure.compute.disks.list_by_resource_group("rg-target")
        if d.name.startswith(f"{vm}-")
    }


def test_cutover_that_failed_before_its_vm_existed_runs_again_from_a_new_recovery_point(
    azure, arm_faults, linux_spec, recovery_point, tmp_path
):
    vm = "az-retry-04"
    source = ReplicaSource(recovery_point, vm, {2000: _pattern(10, 2 * MIB), 2001: _pattern(11, MIB)}, tmp_path)
    spec = replace(
        linux_spec,
        source_vm=vm,
        run_id="azure-test-retry-1",
        availability_set=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        disks=(TargetDisk(2000, "StandardSSD_LRS", "pending"), TargetDisk(2001, "Standard_LRS", "pending")),
    )
    # More failures than azure-core retries: the VM's PUT fails for good, after the disks and the NIC exist.
    arm_faults({"retry_after": 0.01, "next": [{"operation": f"PUT .*/virtualMachines/{vm}$", "count": 100}]})
    try:
        with pytest.raises(HttpResponseError) as failed:
            cutover(azure, spec, source, CutoverOptions(shutdown_timeout_s=30))
    finally:
        arm_faults({})
    assert failed.value.status_code == 429
    assert source.events == ["shut_down 30 True", "final_delta", "release", "power_on"]
    first = _disk_sources(azure, vm)
    assert sorted(first) == [f"{vm}-datadisk-0", f"{vm}-osdisk"]

    result = cutover(azure, replace(spec, run_id="azure-test-retry-2"), source, CutoverOptions(shutdown_timeout_s=30))
    assert [(v.key, v.equal) for v in result.verifications] == [(2000, True), (2001, True)]
    second = _disk_sources(azure, vm)
    assert sorted(second) == sorted(first)  # one managed disk per source disk, as before
    assert all(second[name] != first[name] for name in first)  # each from the new final delta
    built = azure.compute.virtual_machines.get("rg-target", vm).properties.storage_profile
    assert built.os_disk.managed_disk.id.lower() == result.built.disk_ids[0].lower()
    assert [n.name for n in azure.network.network_interfaces.list("rg-target") if n.name.startswith(vm)] == [
        f"{vm}-nic"
    ]

    # A disk a VM uses, or one that is not this VM's, is never replaced.
    newer = replace(spec, disks=tuple(replace(d, source_uri=uri) for d, uri in zip(
        spec.disks, recovery_point(vm, source.disks).values(), strict=True)))
    with pytest.raises(DiskFromOtherRecoveryPoint, match=f"and VM .*/{vm} uses it"):
        import_disks(azure, plan_build(azure, newer))
    rollback_cutover(azure, source, resource_group="rg-target", vm_name=vm)
    with pytest.raises(DiskFromOtherRecoveryPoint, match="do not make it the migration disk of az-other-05"):
        import_disks(azure, plan_build(azure, replace(newer, source_vm="az-other-05", name=vm)))
    assert _disk_sources(azure, vm) == second
