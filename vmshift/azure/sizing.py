"""The Azure VM size for a source VM: from the plan, else the assessment, else the closest match in the region."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from azure.mgmt.compute.models import ResourceSku

from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import BuildInputInvalid


@dataclass(frozen=True)
class VmSize:
    name: str
    vcpus: int
    memory_gib: float
    max_data_disks: int
    zones: frozenset[str] = frozenset()
    hyper_v_generations: frozenset[str] = frozenset({"V1"})
    premium_io: bool = False

    def cannot_host(self, generation: str, premium: bool) -> str | None:
        """Why this size cannot run the VM's disks, or None: Gen2 (EFI) and Premium SSD need the size's support."""
        if generation not in self.hyper_v_generations:
            return f"{self.name} does not run Generation {generation[-1]} VMs (EFI firmware needs Generation 2)"
        if premium and not self.premium_io:
            return f"{self.name} does not take Premium SSD disks"
        return None


@dataclass(frozen=True)
class RegionOffer:
    """The VM sizes the subscription may deploy in a region, and the region's availability zones."""

    region: str
    sizes: tuple[VmSize, ...]

    @property
    def zones(self) -> frozenset[str]:
        return frozenset().union(*(size.zones for size in self.sizes))

    def size(self, name: str) -> VmSize | None:
        return next((s for s in self.sizes if s.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class SizeChoice:
    """The size and the rule that chose it, for the migration engineer to check."""

    name: str
    rule: str  # "plan", "assessment" or "closest match"
    reason: str


def offer_from_skus(region: str, skus: Iterable[ResourceSku]) -> RegionOffer:
    """Sizes from the resource SKUs list: VM sizes offered here, minus what is restricted for the subscription."""
    sizes = []
    for sku in skus:
        if sku.resource_type != "virtualMachines":
            continue
        if not any(location.lower() == region.lower() for location in sku.locations or []):
            continue
        zones: set[str] = set()
        for info in sku.location_info or []:
            if info.location.lower() == region.lower():
                zones.update(info.zones or [])
        restricted_here = False
        for restriction in sku.restrictions or []:
            if restriction.type == "Location":
                restricted_here = True
            elif restriction.type == "Zone" and restriction.restriction_info:
                zones.difference_update(restriction.restriction_info.zones or [])
        if restricted_here:
            continue
        capability = {c.name: c.value for c in sku.capabilities or []}
        sizes.append(
            VmSize(
                name=sku.name,
                vcpus=int(capability.get("vCPUs", "0")),
                memory_gib=float(capability.get("MemoryGB", "0")),
                max_data_disks=int(capability.get("MaxDataDiskCount", "0")),
                zones=frozenset(zones),
                hyper_v_generations=frozenset(capability.get("HyperVGenerations", "V1").replace(" ", "").split(",")),
                premium_io=capability.get("PremiumIO", "False").lower() == "true",
            )
        )
    return RegionOffer(region, tuple(sizes))


def region_offer(clients: AzureClients, region: str) -> RegionOffer:
    skus = clients.compute.resource_skus.list(filter=f"location eq '{region}'")
    return offer_from_skus(region, skus)


def choose_size(
    vm: str,
    offer: RegionOffer,
    *,
    vcpus: int,
    memory_mib: int,
    data_disks: int,
    planned: str | None = None,
    assessed: str | None = None,
    zone: str | None = None,
    generation: str = "V1",
    premium: bool = False,
) -> SizeChoice:
    """The plan's size, else the assessment's, else the smallest offered size that fits the source.

    Fitting means at least the source's vCPUs and memory, a data-disk slot per data disk, offered in
    the requested zone, and able to run the VM's generation and disk types (`premium`: a Premium SSD
    disk); a named size that does not fit is an error, not silently replaced.
    """
    for rule, field, name in (("plan", "target_size", planned), ("assessment", "assessed_size", assessed)):
        if not name:
            continue
        size = offer.size(name)
        if size is None:
            raise BuildInputInvalid(
                vm, field, f"size {name} is not offered in region {offer.region} for this subscription"
            )
        if zone and zone not in size.zones:
            raise BuildInputInvalid(vm, field, f"size {name} is not offered in zone {zone} of {offer.region}")
        if size.max_data_disks < data_disks:
            raise BuildInputInvalid(
                vm, field, f"size {name} takes {size.max_data_disks} data disks, the VM has {data_disks}"
            )
        unable = size.cannot_host(generation, premium)
        if unable:
            raise BuildInputInvalid(vm, field, unable)
        return SizeChoice(size.name, rule, f"{rule} names {size.name}")
    fitting = [
        size
        for size in offer.sizes
        if size.vcpus >= vcpus
        and size.memory_gib * 1024 >= memory_mib
        and size.max_data_disks >= data_disks
        and (not zone or zone in size.zones)
        and size.cannot_host(generation, premium) is None
    ]
    if not fitting:
        raise BuildInputInvalid(
            vm,
            "target_size",
            f"no size in {offer.region}{f' zone {zone}' if zone else ''} has {vcpus} vCPUs, "
            f"{memory_mib} MiB memory and {data_disks} data-disk slots"
            f"{' for Generation 2' if generation == 'V2' else ''}{' with Premium SSD' if premium else ''}; "
            "name a size in the plan",
        )
    best = min(fitting, key=lambda s: (s.vcpus, s.memory_gib, s.max_data_disks, s.name))
    return SizeChoice(
        best.name,
        "closest match",
        f"smallest size in {offer.region} with at least {vcpus} vCPUs, {memory_mib / 1024:g} GiB and "
        f"{data_disks} data-disk slots: {best.name} ({best.vcpus} vCPUs, {best.memory_gib:g} GiB, "
        f"{best.max_data_disks} data disks)",
    )
