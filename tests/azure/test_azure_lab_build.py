"""On the lab: target VMs from recovery points, every option checked on the resources Azure returns."""

from __future__ import annotations

import functools
import uuid
from dataclasses import replace

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from vmshift.azure import test_migration as tm
from vmshift.azure.disks import CUSTOMER_KEY, PLATFORM_AND_CUSTOMER_KEYS, PLATFORM_KEY
from vmshift.azure.errors import (
    BuildIncomplete,
    BuildInputInvalid,
    DiskFromOtherRecoveryPoint,
)
from vmshift.azure.permissions import OPERATOR_ROLE, SUBSCRIPTION_ROLE, role_actions
from vmshift.azure.sql_vm import ensure_sql_vm
from vmshift.azure.tags import PURPOSE_TAG, RUN_TAG, SOURCE_VM_TAG
from vmshift.azure.vms import TargetDisk, TargetNic, TargetVmSpec, build_vm, check_vm, import_disks, plan_build
from vmshift.lab.azure_roles import azure_roles_held
from vmshift.migration.cutover import CutoverOptions, cutover, rollback_cutover
from vmshift.migration.source import FinalDelta, FrozenDisk
from vmshift.migration.verification import VerificationRun, cache_manifests, mismatch_message, prove_cutover
from vmshift.replication.digests import digests_of
from vmshift.replication.extents import DiskExtent
from vmshift.replication.manifest import Manifest
from vmshift.replication.settings import ReplicationSettings, open_clients

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
        nics=(TargetNic(ids("rg-target", "virtualNetworks", "vnet-target", "snet-app"), static_ip="10.20.1.50"),),
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
        nics=(TargetNic(ids("rg-target", "virtualNetworks", "vnet-target", "snet-data")),),
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
    assert ip.subnet.id.lower() == windows_spec.nics[0].subnet_id.lower()
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


def test_a_sql_server_licence_becomes_the_vms_sql_virtual_machine_resource(azure, windows_spec, linux_spec):
    windows = build_vm(azure, plan_build(azure, windows_spec))
    ensure = functools.partial(ensure_sql_vm, azure, resource_group="rg-target", region="westeurope", tags={})

    ensure(vm_id=windows.vm_id, vm_name=windows.vm_name, license_type="AHUB", source_vm="az-sql-01")
    ensure(vm_id=windows.vm_id, vm_name=windows.vm_name, license_type="AHUB", source_vm="az-sql-01")

    listed = list(azure.sql_virtual_machines.sql_virtual_machines.list_by_resource_group("rg-target"))
    assert [(s.name, s.properties.sql_server_license_type) for s in listed] == [("az-sql-01", "AHUB")]
    assert listed[0].properties.virtual_machine_resource_id.lower() == windows.vm_id.lower()
    linux = build_vm(azure, plan_build(azure, linux_spec))
    with pytest.raises(HttpResponseError) as refused:
        ensure(vm_id=linux.vm_id, vm_name=linux.vm_name, license_type="PAYG", source_vm="az-linux-01")
    assert refused.value.error.code == "NotSupportedSqlVmOSVersion"


def test_the_plans_os_disk_becomes_the_os_disk_and_the_others_data_disks(azure, windows_spec):
    spec = replace(
        windows_spec,
        name="sql-os-second",
        os_disk_key=2001,
        zone=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        nics=(TargetNic(windows_spec.nics[0].subnet_id),),
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
        ({"nics": ("rg-target", "virtualNetworks", "vnet-target", "snet-missing")}, "target_subnet", "not exist"),
        ({"availability_set": "avset-missing"}, "availability_set", "avset-missing does not exist in resource group"),
        ({"availability_set": "avset-neu"}, "availability_set", "avset-neu is in northeurope, the VM goes to west"),
        ({"availability_set": ("rg-hub", "availabilitySets", "avset-hub")}, "availability_set",
         "avset-hub is in resource group rg-hub"),
        ({"disk_encryption_set": "des-missing"}, "disk_encryption_set", "des-missing does not exist in resource group"),
        ({"disk_encryption_set": "des-neu"}, "disk_encryption_set", "des-neu is in northeurope, the VM goes to west"),
        ({"disk_encryption_set": ("rg-hub", "diskEncryptionSets", "des-hub")}, "disk_encryption_set",
         "des-hub is in resource group rg-hub"),
        ({"nics": "10.99.0.5"}, "static_ip", "outside subnet"),
        ({"nics": "10.20.2.3"}, "static_ip", "Azure reserves"),
        ({"nics": None}, "nics", "no NIC"),
    ],
)
def test_bad_input_names_vm_and_field_and_creates_nothing(azure, ids, linux_spec, changes, field, problem):
    changes = {name: ids(*value) if isinstance(value, tuple) else value for name, value in changes.items()}
    if "nics" in changes:  # a subnet ID, a static IP in the spec's subnet, or no NIC at all
        given, subnet = changes["nics"], linux_spec.nics[0].subnet_id
        changes["nics"] = () if given is None else (
            (TargetNic(given),) if given.startswith("/") else (TargetNic(subnet, static_ip=given),))
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
        nics=(TargetNic(windows_spec.nics[0].subnet_id, static_ip="10.20.1.60"),),
    )
    production = _counts(azure)
    test_vnet = ids("rg-target", "virtualNetworks", "vnet-test")
    test_vm = tm.run_test_migration(azure, spec, test_vnet_id=test_vnet)
    built = test_vm.built
    assert test_vm.check.ok, test_vm.check.problems
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
    assert tm.run_test_migration(azure, spec, test_vnet_id=test_vnet).built == built
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


def test_every_nic_is_built_in_its_subnet_primary_first_and_its_test_copy_in_its_test_subnet(
    azure, owner, ids, linux_spec
):
    app, data = (ids("rg-target", "virtualNetworks", "vnet-target", name) for name in ("snet-app", "snet-data"))
    spec = replace(linux_spec, source_vm="az-two-nics", name="az-two-nics", availability_set=None,
                   encryption_type=PLATFORM_KEY, disk_encryption_set=None, disk_names={2000: "two-nics-os"},
                   nics=(TargetNic(app, "10.20.1.70", "two-nics-front", "snet-app", "10.30.1.70"),
                         TargetNic(data, None, None, "snet-isolated", "10.30.2.70")))
    built = build_vm(azure, plan := plan_build(azure, spec))

    vm = azure.compute.virtual_machines.get("rg-target", "az-two-nics")
    references = [(r.id.rsplit("/", 1)[1], r.properties.primary)
                  for r in vm.properties.network_profile.network_interfaces]
    assert references == [("two-nics-front", True), ("az-two-nics-nic-2", False)]
    addresses = [azure.network.network_interfaces.get("rg-target", name).properties.ip_configurations[0].properties
                 for name, _ in references]
    assert [(a.subnet.id.lower(), a.private_ip_address, a.private_ip_allocation_method) for a in addresses] == [
        (app.lower(), "10.20.1.70", "Static"), (data.lower(), addresses[1].private_ip_address, "Dynamic")]
    assert vm.properties.storage_profile.os_disk.managed_disk.id.endswith("/two-nics-os")
    assert check_vm(azure, plan, built).ok

    test_vnet = ids("rg-target", "virtualNetworks", "vnet-test")
    test_vm = tm.run_test_migration(azure, spec, test_vnet_id=test_vnet)
    assert test_vm.check.ok, test_vm.check.problems
    assert [(n.nic_id.rsplit("/", 1)[1], n.subnet_id.rsplit("/", 1)[1], n.ip) for n in test_vm.check.nics] == [
        ("two-nics-front-test", "snet-app", "10.30.1.70"), ("az-two-nics-test-nic-2", "snet-isolated", "10.30.2.70")]
    assert azure.compute.disks.get("rg-target", "two-nics-os-test").tags[PURPOSE_TAG] == "test-migration"

    # Someone stops the test VM (vmshift's identity may not).
    owner.compute.virtual_machines.begin_power_off("rg-target", "az-two-nics-test").result()
    again = tm.run_test_migration(azure, spec, test_vnet_id=test_vnet)
    assert again.built == test_vm.built and not again.check.ok
    assert again.check.problems == ("power state is stopped, not running",)
    tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm="az-two-nics")


def test_a_static_ip_another_nic_holds_is_refused_by_arm(azure, ids, linux_spec):
    app = ids("rg-target", "virtualNetworks", "vnet-target", "snet-app")
    first = replace(linux_spec, source_vm="az-ip-a", name="az-ip-a", availability_set=None,
                    encryption_type=PLATFORM_KEY, disk_encryption_set=None, nics=(TargetNic(app, "10.20.1.80"),))
    build_vm(azure, plan_build(azure, first))

    with pytest.raises(BuildIncomplete) as refused:
        build_vm(azure, plan_build(azure, replace(first, source_vm="az-ip-b", name="az-ip-b")))
    assert refused.value.__cause__.error.code == "PrivateIPAddressInUse"
    assert "PrivateIPAddressInUse" in str(refused.value) and "10.20.1.80" in str(refused.value)


def test_test_migration_into_the_production_vnet_is_refused(azure, ids, windows_spec):
    before = _counts(azure)
    with pytest.raises(BuildInputInvalid) as refused:
        tm.run_test_migration(azure, windows_spec, test_vnet_id=ids("rg-target", "virtualNetworks", "vnet-target"))
    assert (refused.value.vm, refused.value.field) == ("az-sql-01", "test_vnet")
    assert _counts(azure) == before


class ReplicaSource:
    """A stopped source whose final delta writes its disks as a recovery point with the mover's page blob code, and
    their manifests as the mover records them: the Azure half of a cutover, without vCenter. `flipped`: a byte
    that differs in the replica from what the manifest recorded (corruption at rest after the last cycle)."""

    def __init__(self, recovery_point, vm: str, disks: dict[int, bytes], flipped: int | None = None) -> None:
        self.recovery_point, self.vm, self.disks, self.flipped = recovery_point, vm, disks, flipped
        self.events: list[str] = []

    was_running = True

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        self.events.append(f"shut_down {timeout_s:g} {power_off_after}")
        return self.was_running

    def final_delta(self, keep_snapshot: bool) -> FinalDelta:
        self.events.append("final_delta")
        replicas = dict(self.disks)
        if self.flipped is not None:
            first = min(replicas)
            wrong = bytearray(replicas[first])
            wrong[self.flipped] ^= 0xFF
            replicas[first] = bytes(wrong)
        uris = self.recovery_point(self.vm, replicas)
        frozen = {key: FrozenDisk(key, uris[key], *_manifest(self.vm, key, data)) for key, data in self.disks.items()}
        return FinalDelta(1, frozen, sum(map(len, self.disks.values())), 0, 0.0, 0, 0.0)

    def release(self, kept_snapshot: str | None = None) -> None:
        self.events.append("release")

    def power_on(self) -> None:
        self.events.append("power_on")

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        self.events.append(f"finish {delete_cache_blobs}")

    def replication_finished(self) -> bool:
        return any(event.startswith("finish") for event in self.events)


def _manifest(vm: str, key: int, data: bytes) -> tuple[str, str]:
    """The disk's digests written as the mover writes them, into a manifest of its own; (blob, snapshot id)."""
    settings = ReplicationSettings(cache_account="vmshiftcache01")
    own = open_clients(settings).manifest(vm, str(key))
    manifest = Manifest(own.container, f"{vm}-{uuid.uuid4().hex[:8]}/disk-{key}.manifest", own.owner)
    manifest.start_over(len(data))
    writer = manifest.writer(len(data), fresh=True)
    for offset in range(0, len(data), 4 * MIB):
        piece = data[offset : offset + 4 * MIB]
        writer.record(DiskExtent(offset, len(piece)), digests_of(piece))
    writer.flush()
    return manifest.name, manifest.snapshot()


def _proven(azure, vm: str, record) -> VerificationRun:
    return prove_cutover(azure, record, cache_manifests(ReplicationSettings(cache_account="vmshiftcache01"), vm),
                         save=lambda _: None)


def test_cutover_builds_the_vm_then_proves_its_disks_byte_for_byte_and_rollback_restores_the_source(
    azure, linux_spec, recovery_point
):
    disks = {2000: _pattern(7, 3 * MIB), 2016: _pattern(8, 2 * MIB)}
    source = ReplicaSource(recovery_point, "az-rhel-02", disks)
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
    assert source.events == ["shut_down 30 True", "final_delta"]
    assert [step.name for step in result.record.steps] == [
        "shutdown", "final delta", "range check", "disk import", "frozen copies", "VM creation"]
    proven = _proven(azure, "az-rhel-02", result.record)
    assert proven.record.verification == "passed"
    assert {p.key: p.bytes_read for p in proven.record.disks.values()} == {2000: 3 * MIB, 2016: 2 * MIB}
    vm = azure.compute.virtual_machines.get("rg-target", "az-rhel-02")
    assert vm.properties.storage_profile.os_disk.managed_disk.id.lower() == result.built.disk_ids[0].lower()
    assert azure.compute.disks.get("rg-target", "az-rhel-02-osdisk").properties.hyper_v_generation == "V2"
    assert cutover(azure, spec, source).built == result.built
    assert source.events == ["shut_down 30 True", "final_delta"]

    deleted = rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02")
    assert sorted(i.rsplit("/", 1)[1] for i in deleted) == ["az-rhel-02", "az-rhel-02-nic"]
    assert source.events[-1] == "power_on"
    for proof in result.record.disks.values():  # the frozen copies went with the cutover they served
        with pytest.raises(ResourceNotFoundError):
            azure.compute.snapshots.get("rg-target", proof.snapshot)
    kept = azure.compute.disks.get("rg-target", "az-rhel-02-osdisk")
    assert kept.id == result.built.disk_ids[0]
    # Cut over again after the rollback: the kept disks hold the first recovery point, so they are imported anew.
    again = cutover(azure, spec, source, CutoverOptions(leave_source_running=True))
    assert again.built == result.built and _proven(azure, "az-rhel-02", again.record).record.verification == "passed"
    reimported = azure.compute.disks.get("rg-target", "az-rhel-02-osdisk").properties.creation_data.source_uri
    assert reimported != kept.properties.creation_data.source_uri
    deleted = rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02", delete_disks=True)
    assert deleted == result.built.resources
    remaining = [d.name for d in azure.compute.disks.list_by_resource_group("rg-target")]
    assert not [name for name in remaining if name.startswith("az-rhel-02")]
    assert rollback_cutover(azure, source, resource_group="rg-target", vm_name="az-rhel-02", delete_disks=True) == ()


def test_a_disk_that_differs_from_its_manifest_is_named_with_its_offset_once_the_vm_runs(
    azure, linux_spec, recovery_point
):
    source = ReplicaSource(recovery_point, "az-iis-03", {2000: _pattern(9, 2 * MIB), 2001: _pattern(3, 3 * MIB)},
                           flipped=5000 + 64 * 1024)
    spec = replace(
        linux_spec,
        source_vm="az-iis-03",
        availability_set=None,
        encryption_type=PLATFORM_KEY,
        disk_encryption_set=None,
        disks=(TargetDisk(2000, "Standard_LRS", "pending"), TargetDisk(2001, "Standard_LRS", "pending")),
    )
    result = cutover(azure, spec, source)
    saved = []
    proven = prove_cutover(azure, result.record, cache_manifests(ReplicationSettings("vmshiftcache01"), "az-iis-03"),
                           save=saved.append)
    assert proven.record.verification == "failed" and saved[-1] == proven.record
    assert {p.key: p.mismatches for p in proven.record.disks.values()} == {2000: [(64 * 1024, 64 * 1024)], 2001: []}
    message = mismatch_message("az-iis-03", proven.record)
    assert "managed disk az-iis-03-osdisk (source disk 2000) differs at byte offset 65536" in message
    assert "target VM was left running" in message and "Roll back" in message
    assert azure.compute.virtual_machines.get("rg-target", "az-iis-03").id == result.built.vm_id


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
    source = ReplicaSource(recovery_point, vm, {2000: _pattern(10, 2 * MIB), 2001: _pattern(11, MIB)})
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
    assert source.events == ["shut_down 30 True", "final_delta", "release", "power_on"]  # released: it failed
    first = _disk_sources(azure, vm)
    assert sorted(first) == [f"{vm}-datadisk-0", f"{vm}-osdisk"]

    result = cutover(azure, replace(spec, run_id="azure-test-retry-2"), source, CutoverOptions(shutdown_timeout_s=30))
    assert _proven(azure, vm, result.record).record.verification == "passed"
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


def test_a_build_azure_refuses_midway_names_every_resource_it_leaves_and_the_clean_up_removes_them(
    azure, owner, lab, ids, windows_spec
):
    """Without Microsoft.Network/networkInterfaces/join/action the disks and the NIC are made and the VM refused:
    the error names each of them, and nothing else of the VM's is left."""
    spec = replace(windows_spec, run_id="azure-test-refused-1", size="Standard_E4s_v5", zone=None,
                   encryption_type=PLATFORM_KEY, disk_encryption_set=None,
                   nics=tuple(replace(nic, static_ip=None) for nic in windows_spec.nics))
    lacking = "Microsoft.Network/networkInterfaces/join/action"
    role = {"Name": "vmshift operator without NIC join",
            "Actions": [a for a in role_actions(OPERATOR_ROLE) if a != lacking]}
    held = [{"role": SUBSCRIPTION_ROLE.name, "scope": ""},
            *({"role": role["Name"], "scope": f"resourceGroups/{g}"} for g in ("rg-migration", "rg-hub", "rg-target"))]
    with azure_roles_held(lab, held, roles=[role]), pytest.raises(BuildIncomplete) as refused:
        tm.run_test_migration(azure, spec, test_vnet_id=ids("rg-target", "virtualNetworks", "vnet-test"))

    message = str(refused.value)
    assert lacking in message and "LinkedAuthorizationFailed" in message
    left = {r.id.lower() for r in [*owner.compute.virtual_machines.list("rg-target"),
                                   *owner.compute.disks.list_by_resource_group("rg-target"),
                                   *owner.network.network_interfaces.list("rg-target")]
            if (r.tags or {}).get(RUN_TAG) == "azure-test-refused-1"}
    assert left == {r.lower() for r in refused.value.built} and len(left) == 3  # two disks and the NIC, no VM
    assert all(resource in message for resource in refused.value.built)
    cleaned = tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm="az-sql-01")
    assert {d.lower() for d in cleaned.deleted} == left


def test_a_cutover_refused_its_frozen_copies_names_the_disks_and_copies_it_made_and_starts_the_source_again(
    azure, groups, lab, linux_spec, recovery_point
):
    """May take the OS disk's frozen copy but no other: the data disk's is refused after both disks were imported
    and the first copy taken; the error names the three, and a rollback with the disks removes them."""
    vm = "az-frozen-06"
    source = ReplicaSource(recovery_point, vm, {2000: _pattern(12, 2 * MIB), 2001: _pattern(13, MIB)})
    spec = replace(linux_spec, source_vm=vm, run_id="azure-test-frozen-1", availability_set=None,
                   encryption_type=PLATFORM_KEY, disk_encryption_set=None,
                   disks=(TargetDisk(2000, "Standard_LRS", "pending"), TargetDisk(2001, "Standard_LRS", "pending")))
    lacking = "Microsoft.Compute/snapshots/write"
    role = {"Name": "vmshift operator without frozen copies",
            "Actions": [a for a in role_actions(OPERATOR_ROLE) if a != lacking]}
    first_copy = {"Name": "vmshift one frozen copy", "Actions": [lacking]}
    held = [{"role": SUBSCRIPTION_ROLE.name, "scope": ""},
            *({"role": role["Name"], "scope": f"resourceGroups/{g}"} for g in ("rg-migration", "rg-hub", "rg-target")),
            {"role": first_copy["Name"],
             "scope": f"resourceGroups/rg-target/providers/Microsoft.Compute/snapshots/{vm}-osdisk-frozen"}]
    with azure_roles_held(lab, held, roles=[role, first_copy]), pytest.raises(BuildIncomplete) as refused:
        cutover(azure, spec, source, CutoverOptions(shutdown_timeout_s=30))

    message = str(refused.value)
    assert f"'{lacking}'" in message and f"snapshots/{vm}-datadisk-0-frozen'" in message  # ARM's own refusal
    made = {r.id.lower() for r in groups.resources.list_by_resource_group("rg-target") if r.name.startswith(f"{vm}-")}
    assert {r.rsplit("/", 1)[1] for r in made} == {f"{vm}-osdisk", f"{vm}-datadisk-0", f"{vm}-osdisk-frozen"}
    assert {r.lower() for r in refused.value.built} == made and all(r in message for r in refused.value.built)
    assert "a rollback of the VM with its disks" in message
    assert source.events[-2:] == ["release", "power_on"]
    rollback_cutover(azure, source, resource_group="rg-target", vm_name=vm, delete_disks=True)
    assert not [r for r in groups.resources.list_by_resource_group("rg-target") if r.name.startswith(f"{vm}-")]
