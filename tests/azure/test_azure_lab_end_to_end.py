"""On the whole lab: VMs from vCenter to Azure and back, through the mover, byte for byte."""

from __future__ import annotations

import pytest

from vmshift.azure import test_migration as tm
from vmshift.azure.errors import RollbackRefused
from vmshift.azure.tags import PURPOSE_TAG
from vmshift.lab.guest import write_guest
from vmshift.migration.cutover import CutoverOptions, complete_migration, cutover, rollback_cutover
from vmshift.migration.source import VSphereSourceVm
from vmshift.migration.verification import cache_manifests, prove_cutover
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.storage import blob_service_client
from vmshift.state.lifecycle import Actor, Phase, Step
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("tidy_target_group")]

CACHE = "vmshiftcache01"
SETTINGS = ReplicationSettings(cache_account=CACHE)
ENGINE_TESTS = Actor("tests/azure", run="engine")


def _resource_names(azure) -> list[str]:
    return [
        r.name
        for r in (
            *azure.compute.virtual_machines.list("rg-target"),
            *azure.compute.disks.list_by_resource_group("rg-target"),
            *azure.network.network_interfaces.list("rg-target"),
        )
        if (r.tags or {}).get(PURPOSE_TAG) == "test-migration"
    ]


def test_windows_efi_vm_is_test_migrated_cleaned_up_cut_over_and_equal_to_its_source(
    lab, azure, ids, session, store, spec_from_state, engine_cutover
):
    vm_name = "azure-win-01"
    source_vm = inventory.find_vm(session, vm_name)
    keys = sorted(d.key for d in inventory.vm_disks(source_vm))
    assert len(keys) == 2
    write_guest(lab, vm_name, 0, b"EFI PART before the initial cycle" * 64, disk_key=keys[0])
    write_guest(lab, vm_name, 3 << 20, b"data disk" * 512, disk_key=keys[1])
    replicate_once(vm_name, session=session, settings=SETTINGS)
    spec = spec_from_state(
        store, vm_name, keys, run_id="azure-test-e2e", name="winsql-e2e", os_type="Windows", firmware="efi",
        vcpus=2, memory_mib=4096, hybrid_benefit=True,
    )

    built = tm.run_test_migration(azure, spec(), test_vnet_id=ids("rg-target", "virtualNetworks", "vnet-test")).built
    assert built.vm_name == "winsql-e2e-test"
    tm.clean_up_test_migration(azure, resource_group="rg-target", source_vm=vm_name)
    assert _resource_names(azure) == []

    write_guest(lab, vm_name, 1 << 20, b"written after the last scheduled cycle" * 100, disk_key=keys[0])
    source = VSphereSourceVm(session, vm_name, SETTINGS, ENGINE_TESTS)
    result = engine_cutover(vm_name, azure, spec(), source, CutoverOptions(shutdown_timeout_s=5))
    assert inventory.find_vm(session, vm_name).runtime.powerState == "poweredOff"
    proven = prove_cutover(azure, result.record, cache_manifests(SETTINGS, vm_name), save=lambda _: None)
    assert proven.record.verification == "passed"
    assert sorted(proof.key for proof in proven.record.disks.values()) == keys
    vm = azure.compute.virtual_machines.get("rg-target", "winsql-e2e")
    # Standard_A2_v2 has the same vCPUs and memory but runs neither Generation 2 nor Premium SSD.
    assert vm.properties.hardware_profile.vm_size == result.built.size.name == "Standard_B2s"
    assert vm.properties.license_type == "Windows_Server"
    assert azure.compute.disks.get("rg-target", "winsql-e2e-osdisk").properties.hyper_v_generation == "V2"

    def counts() -> tuple[int, int]:
        return len(list(azure.compute.disks.list_by_resource_group("rg-target"))), store.load(vm_name).state.cycles

    before = counts()
    assert cutover(azure, spec(), source).built == result.built
    assert counts() == before

    # A cycle killed before it removed its snapshot leaves one behind: completing the migration removes it.
    snapshots.create_snapshot(session, source_vm, f"{OWN_SNAPSHOT_PREFIX}{vm_name}-cycle-99")
    replicas = blob_service_client(CACHE).get_container_client(SETTINGS.replica_container)

    def completed() -> tuple[int, bool, str, int, list[str]]:
        vm = inventory.find_vm(session, vm_name)
        state = store.load(vm_name).state
        blobs = sorted(b.name for b in replicas.list_blobs(name_starts_with=f"{vm_name}/", include=["snapshots"]))
        return (len(snapshots.find_snapshots(vm, OWN_SNAPSHOT_PREFIX)),
                vm.config.changeTrackingEnabled, state.phase, len(state.recovery_points), blobs)

    kept = (len(store.load(vm_name).state.recovery_points), sorted(
        b.name for b in replicas.list_blobs(name_starts_with=f"{vm_name}/", include=["snapshots"])))
    assert kept[0] >= 2 and len(kept[1]) > len(keys)  # the blobs and their recovery points' snapshots
    complete_migration(source, delete_cache_blobs=False)
    assert completed() == (0, False, Phase.COMPLETED, *kept)
    complete_migration(source, delete_cache_blobs=False)
    assert completed() == (0, False, Phase.COMPLETED, *kept)

    with pytest.raises(RollbackRefused, match="the migration was completed") as refused:
        rollback_cutover(azure, source, resource_group="rg-target", vm_name="winsql-e2e", delete_disks=True)
    assert "nothing was deleted" in str(refused.value)
    assert azure.compute.virtual_machines.get("rg-target", "winsql-e2e").id == result.built.vm_id
    assert inventory.find_vm(session, vm_name).runtime.powerState == "poweredOff"

    complete_migration(source, delete_cache_blobs=True)
    assert completed() == (0, False, Phase.COMPLETED, 0, [])
    complete_migration(source, delete_cache_blobs=True)
    assert completed() == (0, False, Phase.COMPLETED, 0, [])


def test_rollback_powers_the_source_on_and_replication_resumes_with_a_delta(
    lab, azure, session, store, spec_from_state, engine_cutover
):
    vm_name = "azure-lnx-01"
    keys = sorted(d.key for d in inventory.vm_disks(inventory.find_vm(session, vm_name)))
    replicate_once(vm_name, session=session, settings=SETTINGS)
    spec = spec_from_state(
        store, vm_name, keys, run_id="azure-test-rollback", os_type="Linux", firmware="bios", vcpus=1,
        memory_mib=1024,
    )
    source = VSphereSourceVm(session, vm_name, SETTINGS, ENGINE_TESTS)
    result = engine_cutover(vm_name, azure, spec(), source, CutoverOptions(shutdown_timeout_s=5))
    assert prove_cutover(azure, result.record, cache_manifests(SETTINGS, vm_name),
                         save=lambda _: None).record.verification == "passed"
    assert inventory.find_vm(session, vm_name).runtime.powerState == "poweredOff"

    deleted = rollback_cutover(azure, source, resource_group="rg-target", vm_name=vm_name, delete_disks=True)
    store.advance(vm_name, Step.ROLLBACK, ENGINE_TESTS)  # as the rollback flow's roll_back_vm does
    assert sorted(i.rsplit("/", 1)[1] for i in deleted) == ["azure-lnx-01", "azure-lnx-01-nic", "azure-lnx-01-osdisk"]
    assert inventory.find_vm(session, vm_name).runtime.powerState == "poweredOn"
    assert rollback_cutover(azure, source, resource_group="rg-target", vm_name=vm_name, delete_disks=True) == ()

    write_guest(lab, vm_name, 2 << 20, b"after rollback" * 1000)
    resumed = replicate_once(vm_name, session=session, settings=SETTINGS)
    assert resumed["kind"] == "delta" and 0 < resumed["changed_bytes"] < 8 << 20
    assert store.load(vm_name).state.phase == "protected"
