"""Test migration: the same build into an isolated test VNet, and its clean-up."""

from __future__ import annotations

from dataclasses import dataclass, replace

from azure.mgmt.core.tools import parse_resource_id, resource_id

from vmshift.azure.built import naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import BuildInputInvalid
from vmshift.azure.naming import subnet_id
from vmshift.azure.tags import PURPOSE_TAG, PURPOSE_TEST, SOURCE_VM_TAG
from vmshift.azure.vms import BuiltVm, TargetNic, TargetVmSpec, VmCheck, build_vm, check_vm, plan_build

# Subnets Azure reserves for its own appliances; a test VM never lands in them.
RESERVED_SUBNETS = frozenset(
    {"GatewaySubnet", "AzureFirewallSubnet", "AzureFirewallManagementSubnet", "AzureBastionSubnet", "RouteServerSubnet"}
)


@dataclass(frozen=True)
class TestVm:
    """A test migration's VM and what reading it back showed."""

    built: BuiltVm
    check: VmCheck


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
) -> TestVm:
    """The VM built from the recovery point into the test VNet, named with `-test` and tagged as a test, then
    read back (provisioned, running, each NIC in its test subnet with its test IP).

    Each NIC goes to its own test subnet with its own test IP (dynamic when it has none); a NIC without a test
    subnet takes `test_subnet`, else the namesake of its target subnet, as Azure Migrate does."""
    test = parse_resource_id(test_vnet_id)
    for nic in spec.nics:
        target = parse_resource_id(nic.subnet_id)
        production_vnet = resource_id(subscription=target["subscription"], resource_group=target["resource_group"],
                                      namespace="Microsoft.Network", type="virtualNetworks", name=target["name"])
        if production_vnet.lower() == test_vnet_id.rstrip("/").lower():
            raise BuildInputInvalid(spec.source_vm, "test_vnet",
                                    f"{target['name']} is the production VNet; a test migration needs another")
    subnets = [s.name for s in clients.network.subnets.list(test["resource_group"], test["name"])]

    def in_test_vnet(nic: TargetNic) -> TargetNic:
        target_subnet = parse_resource_id(nic.subnet_id)["child_name_1"]
        chosen = choose_test_subnet(spec.source_vm, subnets, target_subnet, nic.test_subnet or test_subnet)
        return replace(nic, subnet_id=subnet_id(test_vnet_id, chosen), static_ip=nic.test_ip)

    plan = plan_build(clients, replace(spec, nics=tuple(map(in_test_vnet, spec.nics))), purpose=PURPOSE_TEST)
    built = build_vm(clients, plan)
    return TestVm(built, check_vm(clients, plan, built))


def clean_up_test_migration(clients: AzureClients, *, resource_group: str, source_vm: str) -> CleanupReport:
    """Deletes exactly the resources tagged as this source VM's test migration (the VMs, then the NICs and disks
    they held); running it again deletes none. A deletion Azure refuses names what is left of them."""

    def ours(resource: object) -> bool:
        tags = getattr(resource, "tags", None) or {}
        return tags.get(PURPOSE_TAG) == PURPOSE_TEST and tags.get(SOURCE_VM_TAG) == source_vm

    compute, network = clients.compute, clients.network
    found = [(compute.virtual_machines, vm) for vm in compute.virtual_machines.list(resource_group) if ours(vm)]
    found += [(network.network_interfaces, nic) for nic in network.network_interfaces.list(resource_group) if ours(nic)]
    found += [(compute.disks, disk) for disk in compute.disks.list_by_resource_group(resource_group) if ours(disk)]
    left = [resource.id for _, resource in found]
    with naming_what_exists(f"the test migration clean-up of VM {source_vm}", left,
                            "yourself, each VM before the NICs and disks it holds",
                            again="run the clean-up again (it deletes what is left)"):
        for operations, resource in found:
            operations.begin_delete(resource_group, resource.name).result()
            left.remove(resource.id)
    return CleanupReport(tuple(resource.id for _, resource in found))
