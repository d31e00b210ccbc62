"""Test migration: the same build into an isolated test VNet, and its clean-up."""

from __future__ import annotations

from dataclasses import dataclass, replace

from azure.mgmt.core.tools import parse_resource_id, resource_id

from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import BuildInputInvalid
from vmshift.azure.tags import PURPOSE_TAG, PURPOSE_TEST, SOURCE_VM_TAG
from vmshift.azure.vms import BuiltVm, TargetVmSpec, build_vm, plan_build

# Subnets Azure reserves for its own appliances; a test VM never lands in them.
RESERVED_SUBNETS = frozenset(
    {"GatewaySubnet", "AzureFirewallSubnet", "AzureFirewallManagementSubnet", "AzureBastionSubnet", "RouteServerSubnet"}
)


@dataclass(frozen=True)
class CleanupReport:
    deleted: tuple[str, ...]  # resource IDs, VMs first, then NICs and disks


def choose_test_subnet(vm: str, test_subnets: list[str], target_subnet: str, planned: str | None = None) -> str:
    """As Azure Migrate chooses: the plan's test subnet, else the target subnet's namesake, else the first
    subnet by name that is not a gateway, firewall or Bastion subnet."""
    if planned:
        if planned not in test_subnets:
            raise BuildInputInvalid(vm, "test_subnet", f"{planned} is not a subnet of the test VNet {test_subnets}")
        return planned
    if target_subnet in test_subnets:
        return target_subnet
    usable = sorted(s for s in test_subnets if s not in RESERVED_SUBNETS)
    if not usable:
        raise BuildInputInvalid(vm, "test_vnet", f"the test VNet has no subnet a VM may use ({test_subnets})")
    return usable[0]


def run_test_migration(
    clients: AzureClients,
    spec: TargetVmSpec,
    *,
    test_vnet_id: str,
    test_subnet: str | None = None,
    test_ip: str | None = None,
) -> BuiltVm:
    """The VM built from the recovery point into the test VNet, named with `-test` and tagged as a test."""
    target = parse_resource_id(spec.subnet_id)
    production_vnet = resource_id(
        subscription=target["subscription"],
        resource_group=target["resource_group"],
        namespace="Microsoft.Network",
        type="virtualNetworks",
        name=target["name"],
    )
    if production_vnet.lower() == test_vnet_id.rstrip("/").lower():
        raise BuildInputInvalid(
            spec.source_vm, "test_vnet", f"{target['name']} is the production VNet; a test migration needs another"
        )
    test = parse_resource_id(test_vnet_id)
    subnets = [s.name for s in clients.network.subnets.list(test["resource_group"], test["name"])]
    chosen = choose_test_subnet(spec.source_vm, subnets, target["child_name_1"], test_subnet)
    test_spec = replace(spec, subnet_id=f"{test_vnet_id.rstrip('/')}/subnets/{chosen}", static_ip=test_ip)
    return build_vm(clients, plan_build(clients, test_spec, purpose=PURPOSE_TEST))


def clean_up_test_migration(clients: AzureClients, *, resource_group: str, source_vm: str) -> CleanupReport:
    """Deletes exactly the resources tagged as this source VM's test migration; running it again deletes none."""

    def ours(resource: object) -> bool:
        tags = getattr(resource, "tags", None) or {}
        return tags.get(PURPOSE_TAG) == PURPOSE_TEST and tags.get(SOURCE_VM_TAG) == source_vm

    deleted: list[str] = []
    compute, network = clients.compute, clients.network
    for vm in [v for v in compute.virtual_machines.list(resource_group) if ours(v)]:
        compute.virtual_machines.begin_delete(resource_group, vm.name).result()
        deleted.append(vm.id)
    for nic in [n for n in network.network_interfaces.list(resource_group) if ours(n)]:
        network.network_interfaces.begin_delete(resource_group, nic.name).result()
        deleted.append(nic.id)
    for disk in [d for d in compute.disks.list_by_resource_group(resource_group) if ours(d)]:
        compute.disks.begin_delete(resource_group, disk.name).result()
        deleted.append(disk.id)
    return CleanupReport(tuple(deleted))
