"""Test migration: the VM built from its latest recovery point into the plan's test VNet, and its clean-up."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.runtime import flow_run

from flows.appliance import Appliance
from tasks.delta import state_store
from tasks.retry import TRANSIENT_RETRY
from vmshift.azure import test_migration
from vmshift.azure.clients import connect
from vmshift.azure.vms import BuiltVm, TargetVmSpec, target_disks
from vmshift.plan.schema import OsType, WavePlanRow
from vmshift.readiness import VmFacts

TEST_MIGRATION_RUN = "test-migration-"  # + the VM: the cutover gate reads these runs


def target_spec(vm: WavePlanRow, facts: VmFacts, appliance: Appliance, subscription_id: str) -> TargetVmSpec:
    """What the plan row and the source say the target VM must be, built from the VM's latest recovery point."""
    state = state_store(vm.cache_storage_account).load(vm.source_vm).state
    if not state.recovery_points:
        raise ValueError(f"{vm.source_vm} has no recovery point yet: its initial replication has not finished")
    keys = [disk.key for disk in facts.disks if not disk.rdm]  # "Hard disk N" is the N-th disk vSphere lists
    skus = {keys[d.number - 1]: d.disk_type.value for d in vm.disks or () if d.number <= len(keys)}
    planned = set(skus) if vm.disks is not None else set(keys)
    os_type = vm.os_type or (OsType.WINDOWS if facts.is_windows else OsType.LINUX)
    return TargetVmSpec(
        source_vm=vm.source_vm,
        run_id=str(flow_run.get_id() or "manual"),
        resource_group=vm.resource_group,
        region=vm.region,
        storage_account_id=_id(subscription_id, appliance.migration_resource_group, "Microsoft.Storage",
                               "storageAccounts", vm.cache_storage_account),
        subnet_id=f"{_vnet_id(vm.target_subscription, vm.resource_group, vm.target_vnet)}/subnets/{vm.target_subnet}",
        os_type=os_type.value.capitalize(),
        firmware=facts.firmware,
        vcpus=facts.cpus,
        memory_mib=facts.memory_mib,
        os_disk_key=keys[vm.os_disk - 1],
        disks=tuple(d for d in target_disks(state, disk_skus=skus, default_sku=vm.disk_type.value)
                    if d.key in planned),
        name=vm.target_vm_name,
        size=vm.vm_size,
        zone=vm.availability_zone,
        availability_set=vm.availability_set,
        encryption_type=vm.encryption.azure_type,
        disk_encryption_set=vm.disk_encryption_set,
        hybrid_benefit=vm.hybrid_benefit,
        static_ip=next((nic.ip for nic in vm.nics if nic.ip), None),
        vm_tags=vm.resource_tags("vm"),
        disk_tags=vm.resource_tags("disk"),
        nic_tags=vm.resource_tags("nic"),
    )


@task(name="test-migration", task_run_name=TEST_MIGRATION_RUN + "{vm.source_vm}", tags=["azure"], **TRANSIENT_RETRY)
async def run_test_migration(vm: WavePlanRow, facts: VmFacts, appliance: Appliance) -> BuiltVm:
    """The test VM in the test VNet, named `<target>-test` and tagged as a test."""
    def run() -> BuiltVm:
        clients = connect()
        spec = target_spec(vm, facts, appliance, clients.config.subscription_id)
        test_ip = next((nic.test_ip for nic in vm.nics if nic.test_ip), None)
        test_subnet = next((nic.test_subnet for nic in vm.nics if nic.test_subnet), vm.test_subnet)
        return test_migration.run_test_migration(
            clients, spec, test_vnet_id=_vnet_id(vm.target_subscription, vm.resource_group, vm.test_vnet or ""),
            test_subnet=test_subnet, test_ip=test_ip)
    return await asyncio.to_thread(run)


@task(name="cleanup-test-migration", tags=["azure"], **TRANSIENT_RETRY)
async def clean_up_test_migration(vm: WavePlanRow) -> tuple[str, ...]:
    """Deletes exactly the resources tagged as this VM's test migration; a second run deletes nothing."""
    def run() -> tuple[str, ...]:
        report = test_migration.clean_up_test_migration(connect(), resource_group=vm.resource_group,
                                                        source_vm=vm.source_vm)
        return report.deleted
    return await asyncio.to_thread(run)


def _vnet_id(subscription_id: str, resource_group: str, vnet: str) -> str:
    """The plan names a VNet in the target group, or gives its full resource ID."""
    return vnet if vnet.startswith("/") else _id(subscription_id, resource_group, "Microsoft.Network",
                                                 "virtualNetworks", vnet)


def _id(subscription_id: str, resource_group: str, namespace: str, kind: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{namespace}/{kind}/{name}"
