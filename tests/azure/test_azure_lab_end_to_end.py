"""On the whole lab: a Windows EFI VM with two disks, from vCenter to Azure and back, byte for byte."""

from __future__ import annotations

import pytest

from vmshift.azure import test_migration as tm
from vmshift.azure.cutover import CutoverOptions, complete_migration, cutover
from vmshift.azure.source import MIGRATED, VSphereSourceVm
from vmshift.azure.tags import PURPOSE_TAG
from vmshift.azure.vms import TargetVmSpec, target_disks
from vmshift.lab.guest import write_guest
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = pytest.mark.lab

VM = "win-sql-01"
CACHE = "vmshiftcache01"


def test_windows_efi_vm_is_test_migrated_cleaned_up_cut_over_and_equal_to_its_source(lab, azure, ids):
    session = connect(VCenterConfig.from_env())
    settings = ReplicationSettings(cache_account=CACHE)
    source_vm = inventory.find_vm(session, VM)
    keys = sorted(d.key for d in inventory.vm_disks(source_vm))
    assert len(keys) == 2
    write_guest(lab, VM, 0, b"EFI PART before the initial cycle" * 64, disk_key=keys[0])
    write_guest(lab, VM, 3 << 20, b"data disk" * 512, disk_key=keys[1])
    replicate_once(VM, session=session, settings=settings)
    store = StateStore(blob_service_client(CACHE).get_container_client(settings.state_container))

    def spec() -> TargetVmSpec:
        state = store.load(VM).state
        return TargetVmSpec(
            source_vm=VM,
            run_id="run-e2e",
            resource_group="rg-target",
            region="westeurope",
            storage_account_id=ids("rg-migration", "storageAccounts", CACHE),
            subnet_id=ids("rg-target", "virtualNetworks", "vnet-target", "snet-data"),
            os_type="Windows",
            firmware="efi",
            vcpus=4,
            memory_mib=16384,
            os_disk_key=keys[0],
            disks=target_disks(state, disk_skus={keys[0]: "Premium_LRS"}, default_sku="StandardSSD_LRS"),
            name="winsql-e2e",
            hybrid_benefit=True,
        )

    built = tm.run_test_migration(azure, spec(), test_vnet_id=ids("rg-target", "virtualNetworks", "vnet-test"))
    assert built.vm_name == "winsql-e2e-test"
    tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm=VM)
    leftovers = [
        r.name
        for r in (
            *azure.compute.virtual_machines.list("rg-target"),
            *azure.compute.disks.list_by_resource_group("rg-target"),
            *azure.network.network_interfaces.list("rg-target"),
        )
        if (r.tags or {}).get(PURPOSE_TAG) == "test-migration"
    ]
    assert leftovers == []

    write_guest(lab, VM, 1 << 20, b"written after the last scheduled cycle" * 100, disk_key=keys[0])
    source = VSphereSourceVm(session, VM, settings)
    result = cutover(azure, spec(), source, CutoverOptions(shutdown_timeout_s=5))
    assert inventory.find_vm(session, VM).runtime.powerState == "poweredOff"
    assert [(v.key, v.equal) for v in result.verifications] == [(keys[0], True), (keys[1], True)]
    capacities = {d.key: d.capacity_bytes for d in inventory.vm_disks(source_vm)}
    assert [v.bytes_compared for v in result.verifications] == [capacities[k] for k in keys]
    vm = azure.compute.virtual_machines.get("rg-target", "winsql-e2e")
    assert vm.properties.license_type == "Windows_Server"
    assert azure.compute.disks.get("rg-target", "winsql-e2e-osdisk").properties.hyper_v_generation == "V2"

    complete_migration(source, delete_cache_blobs=True)
    assert store.load(VM).state.phase == MIGRATED
    assert snapshots.find_snapshots(inventory.find_vm(session, VM), "vmshift-") == []
    replicas = blob_service_client(CACHE).get_container_client(settings.replica_container)
    assert [b.name for b in replicas.list_blobs(name_starts_with=f"{VM}/")] == []
