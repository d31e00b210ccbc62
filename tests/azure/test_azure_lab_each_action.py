"""Each documented Azure action taken away in turn, everything else of the documented roles kept: the check at the
start of every step that needs it refuses naming it and its scope before anything is built, the flow of each such
step fails naming it (no flow reports success), and the call that needs it, run without the check, fails naming
it (ARM's 403, or vmshift's message where it has a way round), so the documented roles are exactly what vmshift
uses. The resource groups a case touches are listed before and after, as ARM lists them: the checks and the flows
leave nothing new, and whatever the call built before it was refused is named in its error. One lab; the roles
change through the lab's endpoint between cases; the calls run directly."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from step_flows import STEP_FLOWS

from vmshift.azure import test_migration as tm
from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.disks import (
    PLATFORM_AND_CUSTOMER_KEYS,
    DiskImport,
    ManagedDiskReader,
    delete_disk,
    delete_frozen_copy,
    freeze_disk,
    frozen_copy_name,
    stage_disk,
)
from vmshift.azure.endpoint import ensure_private_endpoint, existing_private_endpoint, private_endpoint_name
from vmshift.azure.errors import PermissionsMissing
from vmshift.azure.permissions import (
    OPERATOR_ROLE,
    REQUIRED_ACTIONS,
    SUBSCRIPTION_ROLE,
    RequiredAction,
    Scope,
    check_permissions,
    role_actions,
)
from vmshift.azure.preflight import preflight_cache_account
from vmshift.azure.private_dns import ensure_private_dns, zone_view
from vmshift.azure.sql_vm import ensure_sql_vm
from vmshift.azure.vms import TargetDisk, TargetNic, TargetVmSpec
from vmshift.lab.azure_roles import azure_roles_held
from vmshift.migration.access import TargetPlace, azure_scopes
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan
from vmshift.replication.vhd import build_footer
from vmshift.steps import MigrationStep

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("tidy_target_group", "prefect_harness")]

MIB = 1 << 20
EXAMPLE_PLAN = Path(__file__).parents[2] / "examples" / "waves.csv"
PLAN_NAMES = ("availability set", "disk encryption set", "SQL Server VM")  # the spec below names them all
_cases = itertools.count()


@dataclass(frozen=True)
class Estate:
    """Where a case runs: a group of its own stands for the hub (a VNet, the private DNS zone), so that the
    endpoint, the zone and its link are made afresh and each action of them is needed."""

    sub: str
    hub_group: str
    hub_vnet: str
    account: str
    source_vm: str

    def scopes(self) -> dict[Scope, list[str]]:
        target = f"{self.sub}/resourceGroups/rg-target/providers/Microsoft.Network/virtualNetworks"
        return {Scope.SUBSCRIPTION: [self.sub], Scope.CACHE_RESOURCE_GROUP: [f"{self.sub}/resourceGroups/rg-migration"],
                Scope.HUB_VNET: [self.hub_vnet],
                Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP: [f"{self.sub}/resourceGroups/{self.hub_group}"],
                Scope.TARGET_RESOURCE_GROUP: [f"{self.sub}/resourceGroups/rg-target"],
                Scope.TARGET_VNET: [f"{target}/vnet-target", f"{target}/vnet-test"]}


def _roles_without(required: RequiredAction, estate: Estate) -> tuple[list[dict], list[dict]]:
    """The documented roles at their documented scopes, the one action taken out of the role that has it."""
    reader = {"Name": f"{SUBSCRIPTION_ROLE.name} test", "Actions": role_actions(SUBSCRIPTION_ROLE)}
    operator = {"Name": f"{OPERATOR_ROLE.name} test", "Actions": role_actions(OPERATOR_ROLE)}
    lacking = reader if required.scope == Scope.SUBSCRIPTION else operator
    lacking["Actions"] = [a for a in lacking["Actions"] if a != required.action]
    groups = ("rg-migration", "rg-target", estate.hub_group)
    return ([{"role": reader["Name"], "scope": ""},
             *({"role": operator["Name"], "scope": f"resourceGroups/{group}"} for group in groups)], [reader, operator])


@pytest.fixture(scope="module")
def target_spec(ids, recovery_point) -> TargetVmSpec:
    uris = recovery_point("perm-src", {2000: bytes(range(256)) * (2 * MIB // 256)})
    return TargetVmSpec(
        source_vm="perm-src", run_id="azure-test-perm", resource_group="rg-target", region="westeurope",
        storage_account_id=ids("rg-migration", "storageAccounts", "vmshiftcache01"),
        nics=(TargetNic(ids("rg-target", "virtualNetworks", "vnet-target", "snet-data")),), os_type="Linux",
        firmware="bios", vcpus=2, memory_mib=4096, os_disk_key=2000, disks=(TargetDisk(2000, "Standard_LRS",
                                                                                   uris[2000]),),
        assessed_size="Standard_D2s_v5", availability_set="avset-sql",
        encryption_type=PLATFORM_AND_CUSTOMER_KEYS, disk_encryption_set="des-double",
    )


@pytest.fixture
def estate(lab: dict, owner: AzureClients, groups: ResourceManagementClient) -> Iterator[Estate]:
    """A fresh cache account and a fresh hub group and VNet; the owner removes them (and what a case made in
    them) afterwards."""
    n = next(_cases)
    sub = f"/subscriptions/{lab['arm']['subscription_id']}"
    hub_group, account = f"rg-perm-hub-{n}", f"vmshiftperm{n}"
    groups.resource_groups.create_or_update(hub_group, {"location": "westeurope"})
    space = f"10.{100 + n}"
    vnet = owner.network.virtual_networks.begin_create_or_update(hub_group, "vnet-perm-hub", {
        "location": "westeurope", "properties": {
            "addressSpace": {"addressPrefixes": [f"{space}.0.0/16"]},
            "subnets": [{"name": "snet-endpoints", "properties": {"addressPrefix": f"{space}.2.0/24"}}]}}).result()
    owner.storage.storage_accounts.begin_create("rg-migration", account, {
        "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}).result()
    yield Estate(sub, hub_group, vnet.id, account, f"perm-vm-{n}")
    with contextlib.suppress(ResourceNotFoundError):
        owner.network.private_endpoints.begin_delete("rg-migration", private_endpoint_name(account)).result()
    owner.storage.storage_accounts.delete("rg-migration", account)
    groups.resource_groups.begin_delete(hub_group).result()
    tm.clean_up_test_migration(owner, resource_group="rg-target", source_vm=f"perm-vm-{n}")


def _resources(groups: ResourceManagementClient, estate: Estate) -> dict[str, str]:
    """Every resource in the groups a case touches (the target group, the cache account's, the hub's), as ARM
    lists them: name by ID (lower-cased, as ARM compares IDs)."""
    return {resource.id.lower(): resource.name for group in ("rg-target", "rg-migration", estate.hub_group)
            for resource in groups.resources.list_by_resource_group(group)}


def _remove(owner: AzureClients, made: dict[str, str]) -> None:
    """The disks no VM holds and the frozen copies a case's call left; the estate's clean-up removes the rest (the
    endpoint and its NIC, the hub group with the zone and its link, a test migration's VM with its NIC and disks)."""
    for resource_id, name in made.items():
        if "/providers/microsoft.compute/snapshots/" in resource_id:
            delete_frozen_copy(owner, "rg-target", name)
        elif "/providers/microsoft.compute/disks/" in resource_id:
            disk = owner.compute.disks.get("rg-target", name)
            if not disk.managed_by:
                delete_disk(owner, "rg-target", name, disk)


def _replication(clients: AzureClients, estate: Estate, _spec: TargetVmSpec) -> None:
    """A wave's Azure steps for a cache account: preflight, endpoint, private DNS, the DNS gate's view."""
    account = preflight_cache_account(clients, resource_group="rg-migration", account_name=estate.account,
                                      target_region="westeurope")
    endpoint = ensure_private_endpoint(clients, account, subnet_id=f"{estate.hub_vnet}/subnets/snet-endpoints",
                                       resource_group="rg-migration", appliance_vnet_id=estate.hub_vnet,
                                       approval_timeout_s=0, poll_interval_s=0.05)
    ensure_private_dns(clients, endpoint, zone_resource_group=estate.hub_group, vnet_id=estate.hub_vnet)
    zone_view(clients, zone_resource_group=estate.hub_group, vnet_id=estate.hub_vnet, account_name=estate.account)
    existing_private_endpoint(clients, "rg-migration", estate.account)


def _test_migration(clients: AzureClients, estate: Estate, spec: TargetVmSpec) -> None:
    """A test migration's build, then its clean-up (what the build does not need, the clean-up may)."""
    test_vnet = spec.nics[0].subnet_id.split("/virtualNetworks/")[0] + "/virtualNetworks/vnet-test"
    tm.run_test_migration(clients, replace(spec, source_vm=estate.source_vm), test_vnet_id=test_vnet)
    tm.clean_up_test_migration(clients, resource_group="rg-target", source_vm=estate.source_vm)


def _disk_clean_up(clients: AzureClients, estate: Estate, _spec: TargetVmSpec) -> None:
    """A rollback's removal of a migrated disk a killed verification left readable: end its read link, delete."""
    delete_disk(clients, "rg-target", f"{estate.source_vm}-disk")


def _frozen_copy(clients: AzureClients, estate: Estate, _spec: TargetVmSpec) -> None:
    """The cutover's frozen copy of an imported disk, read by the verification, then removed."""
    disk = clients.compute.disks.get("rg-target", f"{estate.source_vm}-disk")
    name = freeze_disk(clients, "rg-target", disk, {"vmshift-run": "azure-test-perm"})
    with ManagedDiskReader(clients, "rg-target", name, snapshot=True) as reader:
        reader.read(0, 512)
    delete_frozen_copy(clients, "rg-target", name)


def _staged_disk(clients: AzureClients, estate: Estate, _spec: TargetVmSpec) -> None:
    """The cutover's staged disk: made for upload, opened for writing, its footer written, sealed."""
    staged = stage_disk(clients, DiskImport(f"{estate.source_vm}-staged", "", "Standard_LRS"), 20 * MIB,
                        resource_group="rg-target", location="westeurope", tags={"vmshift-run": "azure-test-perm"})
    staged.write(20 * MIB, build_footer(20 * MIB))
    staged.seal()


def _sql_registration(clients: AzureClients, estate: Estate, _spec: TargetVmSpec) -> None:
    """The cutover's SQL Server registration of a migrated VM (ARM refuses before the provider looks at it)."""
    vm_id = f"{estate.sub}/resourceGroups/rg-target/providers/Microsoft.Compute/virtualMachines/perm"
    ensure_sql_vm(clients, vm_id=vm_id, vm_name=estate.source_vm, resource_group="rg-target", region="westeurope",
                  license_type="AHUB", tags={}, source_vm=estate.source_vm)


def _call(required: RequiredAction) -> Callable[[AzureClients, Estate, TargetVmSpec], None]:
    if MigrationStep.REPLICATION in required.steps:
        return _replication
    if required.action.startswith("Microsoft.Compute/snapshots/"):
        return _frozen_copy
    if required.action == "Microsoft.Compute/disks/endGetAccess/action":
        return _disk_clean_up
    if required.action == "Microsoft.Compute/disks/beginGetAccess/action":
        return _staged_disk
    if required.action.startswith("Microsoft.SqlVirtualMachine/"):
        return _sql_registration
    return _test_migration


def _wave_and_appliance(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> tuple[Wave, Appliance]:
    """The example plan's SQL Server row (availability set, SQL licence) in this case's cache account, with the
    spec's disk encryption set; the appliance on this case's hub, also for the flows that read it from the env."""
    plan = validate_plan(EXAMPLE_PLAN, now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors()
    template = next(row for row in plan.waves[0].vms if row.source_vm == "win-sql-01")
    row = replace(template, source_vm=estate.source_vm, target_vm_name=estate.source_vm, application_group=None,
                  cache_storage_account=estate.account, disk_encryption_set="des-double")
    appliance = Appliance(network_resource_group=estate.hub_group, vnet="vnet-perm-hub")
    monkeypatch.setenv("VMSHIFT_APPLIANCE_NETWORK_RESOURCE_GROUP", appliance.network_resource_group)
    monkeypatch.setenv("VMSHIFT_APPLIANCE_VNET", appliance.vnet)
    return replace(plan.waves[0], name=f"perm-{estate.source_vm}", vms=(row,)), appliance


def _case_id(required: RequiredAction) -> str:
    return f"{required.action.removeprefix('Microsoft.')}@{required.scope.replace(' ', '-')}"


@pytest.mark.parametrize("required", REQUIRED_ACTIONS, ids=_case_id)
def test_without_an_action_each_step_needing_it_is_refused_and_its_call_fails_naming_it(
    lab: dict, owner: AzureClients, groups: ResourceManagementClient, estate: Estate, target_spec: TargetVmSpec,
    required: RequiredAction, monkeypatch: pytest.MonkeyPatch,
) -> None:
    call = _call(required)
    if call in (_disk_clean_up, _frozen_copy):  # a migrated disk, made by its owner; readable for the clean-up
        owner.compute.disks.begin_create_or_update("rg-target", f"{estate.source_vm}-disk", {
            "location": "westeurope", "sku": {"name": "Standard_LRS"}, "tags": {"vmshift-run": "azure-test-perm"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}).result()
        if call is _disk_clean_up:
            owner.compute.disks.begin_grant_access("rg-target", f"{estate.source_vm}-disk",
                                                   {"access": "Read", "durationInSeconds": 600}).result()
    assignments, roles = _roles_without(required, estate)
    clients = connect()
    wave, appliance = _wave_and_appliance(estate, monkeypatch)
    assert azure_scopes(appliance, clients.config.subscription_id, [TargetPlace.of(wave.vms[0])]) == \
        estate.scopes()  # the flows ask the scopes the check above asks
    before = _resources(groups, estate)
    with azure_roles_held(lab, assignments, roles):
        for step in required.steps:
            with pytest.raises(PermissionsMissing) as refused:
                check_permissions(clients, step, estate.scopes(), PLAN_NAMES)
            # The role lacks the action at every scope it is assigned: the step misses it wherever it needs it.
            expected = {(r.action, r.scope) for r in REQUIRED_ACTIONS if r.action == required.action
                        and step in r.steps and r.role == required.role and r.only_when in (None, required.only_when)}
            assert {(m.action, m.scope) for m in refused.value.missing} == expected
            assert "nothing was created" in str(refused.value)
            if step in STEP_FLOWS:  # discovery has none: `plan validate` is its check, above
                state = asyncio.run(STEP_FLOWS[step](wave, appliance))  # the step's own flow, on the same scopes
                assert state.is_failed() and required.action in str(state.message), (step, state.message)
        assert _resources(groups, estate) == before  # refused before anything was built
        with pytest.raises(Exception) as failed:  # ARM's 403, or vmshift's own error, as it comes
            call(clients, estate, target_spec)
    made = {resource_id: name for resource_id, name in _resources(groups, estate).items() if resource_id not in before}
    try:
        assert required.action.lower() in str(failed.value).lower(), failed.value
        # What the call built before it was refused is named where the refusal is read.
        assert {name for name in made.values() if name not in str(failed.value)} == set(), failed.value
    finally:
        _remove(owner, made)
        if call in (_disk_clean_up, _frozen_copy):
            with contextlib.suppress(ResourceNotFoundError):
                delete_frozen_copy(owner, "rg-target", frozen_copy_name(f"{estate.source_vm}-disk"))
                delete_disk(owner, "rg-target", f"{estate.source_vm}-disk")
