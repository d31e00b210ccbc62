"""The target VM a plan row and its source make, and the test migration that builds it in the test VNet."""

from __future__ import annotations

from dataclasses import dataclass

from azure.mgmt.core.tools import resource_id

from vmshift.azure import test_migration
from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.naming import subnet_id, target_vm_name, vnet_id
from vmshift.azure.vms import BuiltVm, TargetNic, TargetVmSpec, VmCheck, target_disks
from vmshift.migration import row_lifecycle
from vmshift.migration.appliance import Appliance
from vmshift.migration.preparation import prepare_target
from vmshift.plan.recovery_point import RecoveryPointChoice
from vmshift.plan.schema import OsType, WavePlanRow
from vmshift.preparation.prepare import Preparation
from vmshift.state.lifecycle import Actor, Step
from vmshift.state.store import StateStore
from vmshift.vsphere.facts import VmFacts

LATEST = RecoveryPointChoice()


def target_spec(
    vm: WavePlanRow, facts: VmFacts, appliance: Appliance, appliance_subscription: str, run_id: str,
    recovery_point: RecoveryPointChoice = LATEST,
) -> TargetVmSpec:
    """What the plan row and the source say the target VM must be, built from the VM's recovery point (the latest
    unless the step asks for another); `run_id` names the run that builds it (a tag on what it creates); the
    cache account is in `appliance_subscription`. RecoveryPointInvalid names the points the VM has."""
    state = StateStore.for_account(vm.cache_storage_account).load(vm.source_vm).state
    point = recovery_point.choose(state.recovery_points, vm.source_vm)
    keys = _disk_keys(facts)
    skus = {key: vm.disk_type_of(number).value for number, key in enumerate(keys, start=1)}
    migrated = migrated_disk_keys(vm, facts)
    planned = set(keys if migrated is None else migrated)
    os_type = vm.os_type or (OsType.WINDOWS if facts.is_windows else OsType.LINUX)
    vnet = vnet_id(vm.target_subscription, vm.resource_group, vm.target_vnet)
    return TargetVmSpec(
        source_vm=vm.source_vm,
        run_id=run_id,
        resource_group=vm.resource_group,
        region=vm.region,
        storage_account_id=resource_id(subscription=appliance_subscription,
                                       resource_group=appliance.migration_resource_group,
                                       namespace="Microsoft.Storage", type="storageAccounts",
                                       name=vm.cache_storage_account),
        nics=tuple(TargetNic(subnet_id(vnet, nic.subnet), nic.ip, nic.name, nic.test_subnet, nic.test_ip)
                   for nic in vm.nics_to_build(facts.nic_count)),
        os_type=os_type.value.capitalize(),
        firmware=facts.firmware,
        vcpus=facts.cpus,
        memory_mib=facts.memory_mib,
        os_disk_key=keys[vm.os_disk - 1],
        disks=tuple(d for d in target_disks(state, disk_skus=skus, default_sku=vm.disk_type.value, point=point)
                    if d.key in planned),
        recovery_point=point.cycle,
        name=vm.target_vm_name,
        size=vm.vm_size,
        zone=vm.availability_zone,
        availability_set=vm.availability_set,
        encryption_type=vm.encryption.azure_type,
        disk_encryption_set=vm.disk_encryption_set,
        hybrid_benefit=vm.hybrid_benefit,
        disk_names={keys[number - 1]: name for number, name in vm.disk_names if number <= len(keys)},
        vm_tags=vm.resource_tags("vm"),
        disk_tags=vm.resource_tags("disk"),
        nic_tags=vm.resource_tags("nic"),
    )


def _disk_keys(facts: VmFacts) -> list[int]:
    return [disk.key for disk in facts.disks if not disk.rdm]  # "Hard disk N" is the N-th disk vSphere lists


def migrated_disk_keys(vm: WavePlanRow, facts: VmFacts) -> list[int] | None:
    """The vSphere keys of the disks the plan's `disks` lists, which alone are read, sent and built; None when it
    lists none (every disk)."""
    if vm.disks is None:
        return None
    keys = _disk_keys(facts)
    return [keys[d.number - 1] for d in vm.disks if d.number <= len(keys)]


def left_out_disks(vm: WavePlanRow, facts: VmFacts) -> list[str]:
    """The disks the plan leaves out, as vSphere names them ("Hard disk 2"), for the wave's table and log."""
    migrated = migrated_disk_keys(vm, facts)
    if migrated is None:
        return []
    return [f"Hard disk {number}" for number, key in enumerate(_disk_keys(facts), start=1) if key not in migrated]


def target_clients(vm: WavePlanRow) -> tuple[AzureClients, str]:
    """Clients in the VM's target_subscription, where every resource of its own is made and looked up, and the
    appliance's subscription, which keeps the cache accounts its disks are imported from."""
    clients = connect()
    return clients.for_subscription(vm.target_subscription), clients.config.subscription_id


def target_name(vm: WavePlanRow) -> str:
    """The Azure VM's name: the plan's, else the source's made valid for the guest's OS."""
    return target_vm_name(vm.source_vm, vm.target_vm_name, (vm.os_type or "linux").capitalize())


@dataclass(frozen=True)
class BuiltTestVm:
    built: BuiltVm
    check: VmCheck  # what reading it back showed
    preparation: Preparation | None  # what preparing its OS disk changed; None when the plan turns it off
    recovery_point: int | None  # the cycle it was built from


class TestVmNotAsPlanned(RuntimeError):
    """The test VM was built, and reading it back shows it is not what the plan asked for (or not running)."""


def build_test_vm(vm: WavePlanRow, facts: VmFacts, appliance: Appliance, actor: Actor,
                  recovery_point: RecoveryPointChoice = LATEST) -> BuiltTestVm:
    """The test VM in the test VNet, named `<target>-test` and tagged as a test, built from the recovery point
    asked for (the latest by default), its OS disk prepared, then read back: provisioned, running, each NIC in its
    test subnet with its test IP; TestVmNotAsPlanned names what is not. The VM is test-migrated once its test VM
    exists."""
    row_lifecycle.check(vm, Step.TEST_MIGRATE)
    clients, appliance_subscription = target_clients(vm)
    spec = target_spec(vm, facts, appliance, appliance_subscription, actor.run or "manual", recovery_point)
    prepared = prepare_target(vm, spec)
    tested = test_migration.run_test_migration(
        clients, prepared.spec, test_vnet_id=vnet_id(vm.target_subscription, vm.resource_group, vm.test_vnet or ""),
        test_subnet=vm.test_subnet)
    # Built: cleanup-test is what removes it. One not as planned is noted, and counts for no cutover gate.
    problems = None if tested.check.ok else f"not as planned: {'; '.join(tested.check.problems)}"
    row_lifecycle.take(vm, Step.TEST_MIGRATE, actor, note=problems)
    if not tested.check.ok:
        raise TestVmNotAsPlanned(f"test VM {tested.built.vm_name} of {vm.source_vm} was built, and reading it back "
                                 f"shows: {'; '.join(tested.check.problems)}; look at it, then remove it with "
                                 "cleanup-test")
    return BuiltTestVm(tested.built, tested.check, prepared.preparation, spec.recovery_point)


def clean_up_test_vm(vm: WavePlanRow, actor: Actor) -> tuple[str, ...]:
    """Deletes exactly the resources tagged as this VM's test migration; a second run deletes nothing. A
    test-migrated VM goes back to replicating as before."""
    row_lifecycle.check(vm, Step.CLEANUP_TEST)
    deleted = test_migration.clean_up_test_migration(target_clients(vm)[0], resource_group=vm.resource_group,
                                                     source_vm=vm.source_vm).deleted
    row_lifecycle.take(vm, Step.CLEANUP_TEST, actor)
    return deleted
