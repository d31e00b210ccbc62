"""The VM sizes each lab region offers, with the capabilities vmshift sizes by (Azure's published figures)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    memory_gb: float
    max_data_disks: int
    resource_disk_mb: int
    premium_io: bool = True
    hyperv_generations: str = "V1,V2"


SIZES = {s.name: s for s in [
    VmSize("Standard_B2s", "standardBSFamily", 2, 4, 4, 8192),
    VmSize("Standard_B2ms", "standardBSFamily", 2, 8, 4, 16384),
    VmSize("Standard_DS1_v2", "standardDSv2Family", 1, 3.5, 4, 7168),
    VmSize("Standard_D2s_v5", "standardDSv5Family", 2, 8, 4, 0),
    VmSize("Standard_D4s_v5", "standardDSv5Family", 4, 16, 8, 0),
    VmSize("Standard_D8s_v5", "standardDSv5Family", 8, 32, 16, 0),
    VmSize("Standard_E4s_v5", "standardESv5Family", 4, 32, 8, 0),
    VmSize("Standard_E8s_v5", "standardESv5Family", 8, 64, 16, 0),
    VmSize("Standard_F4s_v2", "standardFSv2Family", 4, 8, 8, 32768),
    VmSize("Standard_A2_v2", "standardAv2Family", 2, 4, 4, 20480, premium_io=False, hyperv_generations="V1"),
]}


@dataclass(frozen=True)
class Region:
    zones: tuple[str, ...]
    sizes: tuple[str, ...]
    # Sizes offered in the region but not in every zone: size -> zones it has.
    zonal_limits: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def zones_for(self, size: str) -> tuple[str, ...]:
        return dict(self.zonal_limits).get(size, self.zones)


_ALL = tuple(SIZES)
REGIONS = {
    "westeurope": Region(("1", "2", "3"), _ALL, (("Standard_E8s_v5", ("1", "2")),)),
    "northeurope": Region(("1", "2", "3"), tuple(s for s in _ALL if s != "Standard_E8s_v5")),
    "eastus": Region(("1", "2", "3"), _ALL),
    # northcentralus has no availability zones in Azure.
    "northcentralus": Region((), ("Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_A2_v2")),
}


def region(location: str) -> Region:
    return REGIONS.get(location, Region((), ()))


def resource_skus(locations: list[str]) -> list[dict[str, Any]]:
    """Microsoft.Compute/skus entries for the VM sizes of these regions, as resource_skus.list returns them."""
    result = []
    for location in locations:
        offer = region(location)
        for name in offer.sizes:
            size = SIZES[name]
            result.append({
                "resourceType": "virtualMachines", "name": name, "tier": "Standard",
                "size": name.removeprefix("Standard_"), "family": size.family,
                "locations": [location],
                "locationInfo": [{"location": location, "zones": list(offer.zones_for(name)), "zoneDetails": []}],
                "capabilities": [
                    {"name": "vCPUs", "value": str(size.vcpus)},
                    {"name": "vCPUsAvailable", "value": str(size.vcpus)},
                    {"name": "MemoryGB", "value": f"{size.memory_gb:g}"},
                    {"name": "MaxDataDiskCount", "value": str(size.max_data_disks)},
                    {"name": "MaxResourceVolumeMB", "value": str(size.resource_disk_mb)},
                    {"name": "OSVhdSizeMB", "value": "1047552"},
                    {"name": "PremiumIO", "value": str(size.premium_io)},
                    {"name": "HyperVGenerations", "value": size.hyperv_generations},
                    {"name": "MaxNetworkInterfaces", "value": "2" if size.vcpus < 4 else "4"},
                ],
                "restrictions": [],
            })
    return result


def virtual_machine_sizes(location: str) -> list[dict[str, Any]]:
    return [{"name": name, "numberOfCores": SIZES[name].vcpus, "osDiskSizeInMB": 1047552,
             "resourceDiskSizeInMB": SIZES[name].resource_disk_mb, "memoryInMB": int(SIZES[name].memory_gb * 1024),
             "maxDataDiskCount": SIZES[name].max_data_disks} for name in region(location).sizes]
