"""The target VM from a recovery point: checked settings, imported disks, its NICs, the VM itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute.models import Disk
from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id, resource_id

from vmshift.azure import naming
from vmshift.azure.addresses import ip_problem
from vmshift.azure.built import ROLLBACK_WITH_DISKS, TEST_CLEAN_UP, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import (
    CUSTOMER_KEY,
    PLATFORM_AND_CUSTOMER_KEYS,
    PLATFORM_KEY,
    DiskImport,
    import_disk,
    snapshot_uri,
)
from vmshift.azure.errors import BuildInputInvalid
from vmshift.azure.preflight import same_region
from vmshift.azure.sizing import SizeChoice, choose_size, region_offer
from vmshift.azure.tags import (
    PURPOSE_MIGRATION,
    PURPOSE_TAG,
    PURPOSE_TEST,
    SOURCE_VM_TAG,
    merge_tags,
    vmshift_tags,
)
from vmshift.state.document import RecoveryPoint, VmState

_ENCRYPTION_TYPES = (PLATFORM_KEY, CUSTOMER_KEY, PLATFORM_AND_CUSTOMER_KEYS)


@dataclass(frozen=True)
class TargetDisk:
    key: int  # the vSphere disk key
    sku: str  # Standard_LRS, StandardSSD_LRS, Premium_LRS, ...
    source_uri: str  # the recovery point's blob snapshot


def target_disks(
    state: VmState, *, disk_skus: Mapping[int, str], default_sku: str, point: RecoveryPoint | None = None
) -> tuple[TargetDisk, ...]:
    """The disks of a recovery point (the latest by default) from the VM's state document."""
    point = point or state.recovery_points[-1]
    return tuple(
        TargetDisk(
            key=int(key),
            sku=disk_skus.get(int(key), default_sku),
            source_uri=snapshot_uri(state.disks[key].blob_url, snapshot_id),
        )
        for key, snapshot_id in sorted(point.blob_snapshots.items(), key=lambda item: int(item[0]))
    )


@dataclass(frozen=True)
class TargetNic:
    """One NIC of the target VM: its subnet (resource ID), a static IP (None: dynamic) and its own name (None:
    named after the VM); for a test migration, its subnet in the test VNet (a name) and its test IP."""

    subnet_id: str
    static_ip: str | None = None
    name: str | None = None
    test_subnet: str | None = None
    test_ip: str | None = None


@dataclass(frozen=True)
class TargetVmSpec:
    """What the plan and the source say the target VM must be; `nics` in the planned order, primary first."""

    source_vm: str
    run_id: str
    resource_group: str
    region: str
    storage_account_id: str
    nics: tuple[TargetNic, ...]
    os_type: str  # "Windows" or "Linux"
    firmware: str  # "bios" or "efi"
    vcpus: int
    memory_mib: int
    os_disk_key: int
    disks: tuple[TargetDisk, ...]
    name: str | None = None
    size: str | None = None
    assessed_size: str | None = None
    zone: str | None = None
    availability_set: str | None = None  # name in the target group, or a resource ID
    encryption_type: str = PLATFORM_KEY
    disk_encryption_set: str | None = None  # name in the target group, or a resource ID
    hybrid_benefit: bool = False
    disk_names: Mapping[int, str] = field(default_factory=dict)  # by disk key; others are named after the VM
    vm_tags: Mapping[str, str] = field(default_factory=dict)
    disk_tags: Mapping[str, str] = field(default_factory=dict)
    nic_tags: Mapping[str, str] = field(default_factory=dict)
    recovery_point: int | None = None  # the cycle whose recovery point the disks are built from, for the reports


@dataclass(frozen=True)
class BuildPlan:
    """A checked spec: every name, ID and tag the build will use, decided before anything is created."""

    spec: TargetVmSpec
    purpose: str
    vm_name: str
    nics: tuple[tuple[str, TargetNic], ...]  # (name, NIC), primary first
    size: SizeChoice
    availability_set_id: str | None
    disk_encryption_set_id: str | None
    disks: tuple[tuple[DiskImport, int | None], ...]  # (import, lun); the OS disk has no LUN
    vm_tags: dict[str, str]
    disk_tags: dict[str, str]
    nic_tags: dict[str, str]


@dataclass(frozen=True)
class BuiltVm:
    vm_id: str
    vm_name: str
    resource_group: str
    nic_ids: tuple[str, ...]  # primary first
    disk_ids: tuple[str, ...]
    size: SizeChoice

    @property
    def resources(self) -> tuple[str, ...]:
        """Every resource the build made: the VM, its NICs, its disks."""
        return (self.vm_id, *self.nic_ids, *self.disk_ids)


def plan_build(clients: AzureClients, spec: TargetVmSpec, *, purpose: str = PURPOSE_MIGRATION) -> BuildPlan:
    """Check every setting (reading ARM, creating nothing); raise BuildInputInvalid naming VM and field."""
    vm = spec.source_vm
    if spec.os_type not in ("Windows", "Linux"):
        raise BuildInputInvalid(vm, "os_type", f"{spec.os_type!r}: Windows or Linux")
    vm_name = naming.target_vm_name(vm, spec.name, spec.os_type, test=purpose == PURPOSE_TEST)
    if spec.hybrid_benefit and spec.os_type != "Windows":
        raise BuildInputInvalid(
            vm, "hybrid_benefit", f"Azure Hybrid Benefit applies to Windows guests only; this guest is {spec.os_type}"
        )
    if spec.zone and spec.availability_set:
        raise BuildInputInvalid(
            vm, "availability_set", f"a VM goes in an availability zone ({spec.zone}) or an availability set, not both"
        )
    if spec.encryption_type not in _ENCRYPTION_TYPES:
        raise BuildInputInvalid(vm, "encryption", f"{spec.encryption_type!r}: one of {', '.join(_ENCRYPTION_TYPES)}")
    if spec.encryption_type != PLATFORM_KEY and not spec.disk_encryption_set:
        raise BuildInputInvalid(
            vm, "disk_encryption_set", f"{spec.encryption_type} needs a disk encryption set in the target group"
        )
    if spec.firmware not in ("bios", "efi"):
        raise BuildInputInvalid(vm, "firmware", f"{spec.firmware!r}: bios or efi, as vSphere reports it")
    keys = [d.key for d in spec.disks]
    if spec.os_disk_key not in keys:
        raise BuildInputInvalid(vm, "os_disk", f"disk {spec.os_disk_key} is not in the recovery point ({keys})")
    own = vmshift_tags(vm, spec.run_id, purpose)
    vm_tags = merge_tags(vm, "vm_tags", spec.vm_tags, own)
    disk_tags = merge_tags(vm, "disk_tags", spec.disk_tags, own)
    nic_tags = merge_tags(vm, "nic_tags", spec.nic_tags, own)

    offer = region_offer(clients, spec.region)
    if spec.zone and not offer.zones:
        raise BuildInputInvalid(vm, "availability_zone", f"region {spec.region} has no availability zones")
    if spec.zone and spec.zone not in offer.zones:
        raise BuildInputInvalid(
            vm, "availability_zone", f"zone {spec.zone!r}: region {spec.region} has zones {sorted(offer.zones)}"
        )
    data_disks = [d for d in spec.disks if d.key != spec.os_disk_key]
    size = choose_size(
        vm,
        offer,
        vcpus=spec.vcpus,
        memory_mib=spec.memory_mib,
        data_disks=len(data_disks),
        planned=spec.size,
        assessed=spec.assessed_size,
        zone=spec.zone,
        generation=_generation(spec),
        premium=any(d.sku.startswith("Premium") for d in spec.disks),
    )
    compute = clients.compute
    availability_set_id = (
        _in_target_group(clients, spec, "availability_set", "availabilitySets", spec.availability_set,
                         compute.availability_sets.get)
        if spec.availability_set
        else None
    )
    des_id = (
        _in_target_group(clients, spec, "disk_encryption_set", "diskEncryptionSets", spec.disk_encryption_set,
                         compute.disk_encryption_sets.get)
        if spec.disk_encryption_set
        else None
    )
    if not spec.nics:
        raise BuildInputInvalid(vm, "nics", "no NIC to build: a VM needs one at least")
    for nic in spec.nics:
        _check_subnet(clients, spec, nic)

    encryption_set = des_id if spec.encryption_type != PLATFORM_KEY else None
    os_disk = next(d for d in spec.disks if d.key == spec.os_disk_key)
    imports: list[tuple[DiskImport, int | None]] = [
        (
            DiskImport(
                name=_disk_name(spec, os_disk.key, purpose) or naming.os_disk_name(vm_name),
                source_uri=os_disk.source_uri,
                sku=os_disk.sku,
                os_type=spec.os_type,
                hyper_v_generation=_generation(spec),
                encryption_type=spec.encryption_type,
                disk_encryption_set_id=encryption_set,
                zone=spec.zone,
            ),
            None,
        )
    ]
    for lun, disk in enumerate(sorted(data_disks, key=lambda d: d.key)):
        imports.append(
            (
                DiskImport(
                    name=_disk_name(spec, disk.key, purpose) or naming.data_disk_name(vm_name, lun),
                    source_uri=disk.source_uri,
                    sku=disk.sku,
                    encryption_type=spec.encryption_type,
                    disk_encryption_set_id=encryption_set,
                    zone=spec.zone,
                ),
                lun,
            )
        )
    return BuildPlan(
        spec=spec,
        purpose=purpose,
        vm_name=vm_name,
        nics=tuple((_nic_name(spec, nic, position, vm_name, purpose), nic) for position, nic in enumerate(spec.nics)),
        size=size,
        availability_set_id=availability_set_id,
        disk_encryption_set_id=des_id,
        disks=tuple(imports),
        vm_tags=vm_tags,
        disk_tags=disk_tags,
        nic_tags=nic_tags,
    )


def _disk_name(spec: TargetVmSpec, key: int, purpose: str) -> str | None:
    """The plan's name for a disk; a test migration's copy takes `-test` so that both can exist side by side."""
    name = spec.disk_names.get(key)
    return naming.test_copy_name(name) if name and purpose == PURPOSE_TEST else name


def _nic_name(spec: TargetVmSpec, nic: TargetNic, position: int, vm_name: str, purpose: str) -> str:
    if nic.name:
        return naming.test_copy_name(nic.name) if purpose == PURPOSE_TEST else nic.name
    return naming.nic_name(vm_name, position)


def _generation(spec: TargetVmSpec) -> str:
    """EFI guests boot only as Generation 2 VMs in Azure; BIOS guests as Generation 1."""
    return "V2" if spec.firmware == "efi" else "V1"


def import_disks(clients: AzureClients, plan: BuildPlan, made: Mapping[str, Disk] | None = None) -> list[Disk]:
    """The VM's managed disks, OS disk first; each imported once. `made`: disks built otherwise (staged), by name,
    taken as they are."""
    spec = plan.spec
    disks: list[Disk] = []
    for disk, _lun in plan.disks:
        if made and disk.name in made:
            disks.append(made[disk.name])
            continue
        with _naming_what_exists(plan, [d.id for d in disks]):
            disks.append(import_disk(
                clients,
                disk,
                resource_group=spec.resource_group,
                location=spec.region,
                storage_account_id=spec.storage_account_id,
                tags=plan.disk_tags,
            ))
    return disks


def create_vm(clients: AzureClients, plan: BuildPlan, disks: list[Disk]) -> BuiltVm:
    """The NIC and the VM with the imported disks attached; the VM an earlier run built is kept."""
    done = existing_vm(clients, plan)
    if done is not None:
        return done
    spec = plan.spec
    built = [d.id for d in disks]
    with _naming_what_exists(plan, built):
        nic_ids = []
        for name, nic in plan.nics:
            nic_ids.append(_ensure_nic(clients, plan, name, nic))
            built.append(nic_ids[-1])
        vm = clients.compute.virtual_machines.begin_create_or_update(
            spec.resource_group, plan.vm_name, _vm_body(plan, disks, tuple(nic_ids))
        ).result()
    return BuiltVm(
        vm_id=vm.id,
        vm_name=vm.name,
        resource_group=spec.resource_group,
        nic_ids=tuple(nic_ids),
        disk_ids=tuple(d.id for d in disks),
        size=plan.size,
    )


def _naming_what_exists(plan: BuildPlan, built: list[str]) -> AbstractContextManager[None]:
    """Azure's refusal of the build, as BuildIncomplete naming what this build already holds."""
    return naming_what_exists(f"the {plan.purpose} build of VM {plan.spec.source_vm}", built,
                              TEST_CLEAN_UP if plan.purpose == PURPOSE_TEST else ROLLBACK_WITH_DISKS)


def existing_vm(clients: AzureClients, plan: BuildPlan) -> BuiltVm | None:
    """The VM this plan builds, if an earlier run already built it (found by name and vmshift's tags)."""
    spec = plan.spec
    try:
        vm = clients.compute.virtual_machines.get(spec.resource_group, plan.vm_name)
    except ResourceNotFoundError:
        return None
    tags = vm.tags or {}
    if tags.get(SOURCE_VM_TAG) != spec.source_vm or tags.get(PURPOSE_TAG) != plan.purpose:
        raise BuildInputInvalid(
            spec.source_vm,
            "target_vm_name",
            f"a VM named {plan.vm_name} already exists in {spec.resource_group} and is not this VM's "
            f"{plan.purpose} (tags {tags}); choose another target name",
        )
    storage = vm.properties.storage_profile
    return BuiltVm(
        vm_id=vm.id,
        vm_name=vm.name,
        resource_group=spec.resource_group,
        nic_ids=_nics_primary_first(vm.properties.network_profile.network_interfaces),
        disk_ids=(storage.os_disk.managed_disk.id, *(d.managed_disk.id for d in storage.data_disks or [])),
        size=plan.size,
    )


def build_vm(clients: AzureClients, plan: BuildPlan) -> BuiltVm:
    """The VM an earlier run built, else its disks imported and the VM created: asked before anything is built, so
    that an identity that may not read VMs is refused with nothing built."""
    return existing_vm(clients, plan) or create_vm(clients, plan, import_disks(clients, plan))


@dataclass(frozen=True)
class NicCheck:
    nic_id: str
    subnet_id: str | None
    ip: str | None


@dataclass(frozen=True)
class VmCheck:
    """The built VM as ARM shows it, and what differs from the plan (empty `problems`: as planned)."""

    provisioning_state: str | None
    power_state: str | None
    nics: tuple[NicCheck, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_vm(clients: AzureClients, plan: BuildPlan, built: BuiltVm) -> VmCheck:
    """Read the VM back: provisioning succeeded, it runs, and its NICs, primary first, sit in the planned subnets
    with the planned static IPs."""
    vm = clients.compute.virtual_machines.get(built.resource_group, built.vm_name, expand="instanceView")
    view = vm.properties.instance_view
    power = next((s.code.removeprefix("PowerState/") for s in (view.statuses if view else None) or []
                  if s.code and s.code.startswith("PowerState/")), None)
    problems = []
    if vm.properties.provisioning_state != "Succeeded":
        problems.append(f"provisioning state is {vm.properties.provisioning_state}, not Succeeded")
    if power != "running":
        problems.append(f"power state is {power or 'unknown'}, not running")
    nics = []
    for nic_id in _nics_primary_first(vm.properties.network_profile.network_interfaces):
        configuration = clients.network.network_interfaces.get(
            built.resource_group, parse_resource_id(nic_id)["name"]).properties.ip_configurations[0].properties
        nics.append(NicCheck(nic_id, configuration.subnet.id if configuration.subnet else None,
                             configuration.private_ip_address))
    if len(nics) != len(plan.nics):
        problems.append(f"{len(nics)} NIC(s) where the plan has {len(plan.nics)}")
    for position, (found, (name, planned)) in enumerate(zip(nics, plan.nics, strict=False)):
        what = "the primary NIC" if position == 0 else f"NIC {name}"
        if parse_resource_id(found.nic_id)["name"].lower() != name.lower():
            problems.append(f"{what} is {parse_resource_id(found.nic_id)['name']}, not {name}")
        if (found.subnet_id or "").lower() != planned.subnet_id.lower():
            problems.append(f"{what} is in {found.subnet_id}, not {planned.subnet_id}")
        if planned.static_ip and found.ip != planned.static_ip:
            problems.append(f"{what} has IP {found.ip}, not {planned.static_ip}")
    return VmCheck(vm.properties.provisioning_state, power, tuple(nics), tuple(problems))


def _nics_primary_first(references: list) -> tuple[str, ...]:
    primary = [r.id for r in references if r.properties and r.properties.primary]
    return (*primary, *(r.id for r in references if r.id not in primary))


def _vm_body(plan: BuildPlan, disks: list[Disk], nic_ids: tuple[str, ...]) -> dict:
    spec = plan.spec
    os_disk = disks[0]
    data_disks = [
        {"lun": lun, "createOption": "Attach", "managedDisk": {"id": disk.id}}
        for disk, (_import, lun) in zip(disks[1:], plan.disks[1:], strict=True)
    ]
    properties: dict = {
        "hardwareProfile": {"vmSize": plan.size.name},
        "storageProfile": {
            "osDisk": {"osType": spec.os_type, "createOption": "Attach", "managedDisk": {"id": os_disk.id}},
            "dataDisks": data_disks,
        },
        "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": position == 0}}
                                                 for position, nic_id in enumerate(nic_ids)]},
    }
    if plan.availability_set_id:
        properties["availabilitySet"] = {"id": plan.availability_set_id}
    if spec.hybrid_benefit:
        properties["licenseType"] = "Windows_Server"
    body: dict = {"location": spec.region, "tags": plan.vm_tags, "properties": properties}
    if spec.zone:
        body["zones"] = [spec.zone]
    return body


def _ensure_nic(clients: AzureClients, plan: BuildPlan, name: str, nic: TargetNic) -> str:
    spec = plan.spec
    try:
        return clients.network.network_interfaces.get(spec.resource_group, name).id
    except ResourceNotFoundError:
        pass
    ip_configuration: dict = {"subnet": {"id": nic.subnet_id}, "privateIPAllocationMethod": "Dynamic"}
    if nic.static_ip:
        ip_configuration |= {"privateIPAllocationMethod": "Static", "privateIPAddress": nic.static_ip}
    body = {
        "location": spec.region,
        "tags": plan.nic_tags,
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": ip_configuration}]},
    }
    return clients.network.network_interfaces.begin_create_or_update(spec.resource_group, name, body).result().id


def _in_target_group(
    clients: AzureClients, spec: TargetVmSpec, field: str, kind: str, name: str, get: Callable[[str, str], Any]
) -> str:
    """The ID of a resource the VM refers to (by name, or by ID), which must exist in the target group and region.

    The issue's rule for availability sets and disk encryption sets alike: a reference elsewhere is more often
    a plan's typo than a choice, and cleanup and audits look in the target group.
    """
    wanted = name if is_valid_resource_id(name) else resource_id(
        subscription=clients.config.subscription_id,
        resource_group=spec.resource_group,
        namespace="Microsoft.Compute",
        type=kind,
        name=name,
    )
    parts = parse_resource_id(wanted)
    if (parts["subscription"].lower(), parts["resource_group"].lower()) != (
        clients.config.subscription_id.lower(),
        spec.resource_group.lower(),
    ):
        raise BuildInputInvalid(
            spec.source_vm,
            field,
            f"{parts['name']} is in resource group {parts['resource_group']} of subscription {parts['subscription']}; "
            f"it must be in the target group {spec.resource_group} of subscription {clients.config.subscription_id}",
        )
    try:
        found = get(parts["resource_group"], parts["name"])
    except ResourceNotFoundError as error:
        raise BuildInputInvalid(
            spec.source_vm,
            field,
            f"{parts['name']} does not exist in resource group {parts['resource_group']}; create it there first",
        ) from error
    if not same_region(found.location, spec.region):
        raise BuildInputInvalid(
            spec.source_vm, field, f"{found.name} is in {found.location}, the VM goes to {spec.region}"
        )
    return found.id


def _check_subnet(clients: AzureClients, spec: TargetVmSpec, nic: TargetNic) -> None:
    parts = parse_resource_id(nic.subnet_id)
    if parts.get("subscription", "").lower() != clients.config.subscription_id.lower():
        raise BuildInputInvalid(spec.source_vm, "target_subnet", f"subnet {nic.subnet_id} is not in subscription "
                                                                 f"{clients.config.subscription_id}, where the VM goes")
    try:
        subnet = clients.network.subnets.get(parts["resource_group"], parts["name"], parts["child_name_1"])
    except (ResourceNotFoundError, KeyError) as error:
        raise BuildInputInvalid(spec.source_vm, "target_subnet", f"subnet {nic.subnet_id} does not exist") from error
    if nic.static_ip:
        prefixes = [p for p in (subnet.properties.address_prefix, *(subnet.properties.address_prefixes or [])) if p]
        if problem := ip_problem(nic.static_ip, prefixes, parts["child_name_1"]):
            raise BuildInputInvalid(spec.source_vm, "static_ip", problem)
