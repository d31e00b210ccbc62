"""The api-versions each simulated resource type takes, and the fields a version does not have: data, one
table per resource type, read by the router (what to refuse), the providers listing and docs/lab.md.

Each list is the union of two things, both named above it: the versions ARM itself names in a refusal quoted in
a public issue (its registration, which holds versions the specs never published, e.g. networkInterfaces
2016-07-01, and is the only source for the oldest ones), and the versions Azure/azure-rest-api-specs publishes
since, read in each RP's readme.md (its `tag: package-...` sections name the input files per version) or found
as the version's folder (path and commit of the stored copy). Every version the clients send is in them (docs/lab.md,
"What each client sends"). Ascending, as NoRegisteredProviderFound lists them.
"""

from __future__ import annotations

import copy
from typing import Any

# Microsoft.Resources is ARM itself: one list for resource groups, subscriptions, tenants and providers, exactly
# the one its InvalidApiVersionParameter names in ansible-collections/azure#1930 (2025: '2025-04-01, 2025-03-01,
# 2024-10-01-preview, 2024-11-01, ... 2014-02-26, 2014-04'; '2014-02-26', '2014-04' and the previews are ARM's
# own). It holds every version the specs publish: Microsoft.Resources/resources/readme.md (commit 01fd66f3, stable
# resources.json 2015-11-01 ... 2025-04-01) and Microsoft.Resources/subscriptions/readme.md (commit 1311a1c7,
# subscriptions.json 2015-11-01 ... 2022-12-01).
ARM = (
    "2013-03-01", "2014-01-01", "2014-02-26", "2014-04", "2014-04-01", "2014-04-01-preview", "2015-01-01",
    "2015-11-01", "2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01", "2017-03-01", "2017-05-01",
    "2017-05-10", "2017-06-01", "2017-08-01", "2017-12-01", "2018-01-01", "2018-02-01", "2018-05-01",
    "2018-06-01", "2018-07-01", "2018-08-01", "2018-09-01", "2018-11-01", "2019-03-01", "2019-05-01",
    "2019-05-10", "2019-06-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-10-01", "2019-11-01",
    "2020-01-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-09-01", "2020-10-01",
    "2021-01-01", "2021-04-01", "2022-01-01", "2022-03-01-preview", "2022-05-01", "2022-06-01", "2022-09-01",
    "2022-11-01-preview", "2022-12-01", "2023-03-01-preview", "2023-07-01", "2023-07-01-preview",
    "2024-03-01", "2024-06-01-preview", "2024-07-01", "2024-08-01", "2024-10-01-preview", "2024-11-01",
    "2025-03-01", "2025-04-01",
)

# Microsoft.Network's core types: 2014-12-01-preview ... 2023-09-01 exactly as ARM names them for networkInterfaces
# in Azure/azure-cli#28496 (2024; Azure/azure-sdk-for-js#9297 has the same list up to 2020-03-01), then the stable
# folders published since, network/resource-manager/Microsoft.Network: 2023-11-01 (Network/stable, commit
# 8af7b70d), 2024-01-01 (stable, 3873f33d), 2024-03-01 (stable, c9388702), 2024-05-01 (Network/stable),
# 2024-07-01 (stable, 19fa39f3), 2024-10-01 (Network/readme.md names Network/stable/2024-10-01), 2025-01-01
# (stable, 27641550), 2025-03-01 (stable, 548dffd5), 2025-05-01 (Network/stable, aedce982), 2025-07-01
# (Network/stable, 9b1ee1cc), 2025-09-01 (Network/readme.md's default tag, commit 0006c246), 2026-01-01
# (Network/stable, 721e83b3), 2026-03-01 (Network/stable, d7a2364f; azure-mgmt-network 33.1's default).
NETWORK = (
    "2014-12-01-preview", "2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-06-01", "2016-07-01",
    "2016-08-01", "2016-09-01", "2016-10-01", "2016-11-01", "2016-12-01", "2017-03-01", "2017-04-01",
    "2017-06-01", "2017-08-01", "2017-09-01", "2017-10-01", "2017-11-01", "2018-01-01", "2018-02-01",
    "2018-03-01", "2018-04-01", "2018-05-01", "2018-06-01", "2018-07-01", "2018-08-01", "2018-10-01",
    "2018-11-01", "2018-12-01", "2019-02-01", "2019-04-01", "2019-06-01", "2019-07-01", "2019-08-01",
    "2019-09-01", "2019-11-01", "2019-12-01", "2020-01-01", "2020-03-01", "2020-04-01", "2020-05-01",
    "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01", "2021-01-01", "2021-02-01", "2021-03-01",
    "2021-04-01", "2021-05-01", "2021-06-01", "2021-08-01", "2021-12-01", "2022-01-01", "2022-05-01",
    "2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01",
    "2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01",
    "2025-01-01", "2025-03-01", "2025-05-01", "2025-07-01", "2025-09-01", "2026-01-01", "2026-03-01",
)

# privatedns/resource-manager/Microsoft.Network/PrivateDns/readme.md (commit 53804e22), its tags: stable 2018-09-01,
# 2020-01-01, 2020-06-01, 2024-06-01 and preview 2026-06-01-preview (no refusal list of ARM's was found).
PRIVATE_DNS = ("2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01", "2026-06-01-preview")

# Microsoft.Compute's CRP (virtual machines, availability sets, sizes): 2015-05-01-preview ... 2024-07-01 exactly as
# ARM names them for locations/vmSizes in Azure/azure-cli#30613 (2025; Azure/migAz#246 has the same up to
# 2019-07-01; 2015-05-01-preview and 2016-08-30 are ARM's own), then compute/resource-manager/Microsoft.Compute/
# Compute/readme.md's CRP input files (ComputeRP.json 2024-11-01, 2025-04-01, 2025-11-01) and the ComputeRP.json
# folders after it: Compute/stable/2026-03-01 (commit 592911f3) and 2026-04-01 (c6b9f819; azure-mgmt-compute 39).
COMPUTE = (
    "2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-04-30-preview", "2016-08-30", "2017-03-30",
    "2017-12-01", "2018-04-01", "2018-06-01", "2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01",
    "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01",
    "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01",
    "2024-11-01", "2025-04-01", "2025-11-01", "2026-03-01", "2026-04-01",
)

# Microsoft.Compute's DiskRP (disks, snapshots, disk encryption sets): every disk.json / DiskRP.json that
# compute/resource-manager/Microsoft.Compute/Compute/readme.md's tags name, preview/2016-04-30-preview ...
# stable/2026-03-02 (tag package-2026-03-02; the folder is Compute/stable/2026-03-02, commit 255052aa,
# azure-mgmt-compute 39's).
DISK = (
    "2016-04-30-preview", "2017-03-30", "2018-04-01", "2018-06-01", "2018-09-30", "2019-03-01", "2019-07-01",
    "2019-11-01", "2020-05-01", "2020-06-30", "2020-09-30", "2020-12-01", "2021-04-01", "2021-08-01",
    "2021-12-01", "2022-03-02", "2022-07-02", "2023-01-02", "2023-04-02", "2023-10-02", "2024-03-02",
    "2025-01-02", "2026-03-02",
)

# Microsoft.Compute/skus: skus.json 2017-09-01, 2019-04-01, 2021-07-01 (Compute/readme.md's tags; every later tag
# still takes 2021-07-01), and compute.json 2017-03-30, which held the operation before skus.json
# (Azure/azure-sdk-for-python's azure-mgmt-compute/.../v2017_03_30/operations/resource_skus_operations.py).
SKUS = ("2017-03-30", "2017-09-01", "2019-04-01", "2021-07-01")

# storage/resource-manager/Microsoft.Storage/Storage/readme.md (commit 0940ebf9), every tag: stable 2015-06-15 ...
# 2026-09-01 and the previews 2015-05-01-preview, 2018-03-01-preview, 2020-08-01-preview (no refusal list of ARM's
# was found). azure-mgmt-storage 25.3 takes 2025-08-01, 2026-04-01, 2026-06-01 and 2026-09-01 (its default).
STORAGE = (
    "2015-05-01-preview", "2015-06-15", "2016-01-01", "2016-05-01", "2016-12-01", "2017-06-01", "2017-10-01",
    "2018-02-01", "2018-03-01-preview", "2018-07-01", "2018-11-01", "2019-04-01", "2019-06-01",
    "2020-08-01-preview", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01", "2021-08-01", "2021-09-01",
    "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01", "2023-05-01", "2024-01-01", "2025-01-01",
    "2025-06-01", "2025-08-01", "2026-04-01", "2026-06-01", "2026-09-01",
)


# Microsoft.Authorization's permissions: authorization/resource-manager/Microsoft.Authorization, the versions that
# have the operation (azure-mgmt-authorization 4 sends 2022-04-01).
AUTHORIZATION = ("2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview")
# Role assignments: the version folders of azure-mgmt-authorization 4 that have the operations (it sends 2022-04-01).
ROLE_ASSIGNMENTS = ("2015-07-01", "2018-01-01-preview", "2018-09-01-preview", "2020-04-01-preview",
                    "2020-10-01-preview", "2022-04-01")


# sqlvirtualmachine/resource-manager/Microsoft.SqlVirtualMachine's version folders; azure-mgmt-sqlvirtualmachine 1.0
# sends 2023-10-01.
SQL_VIRTUAL_MACHINE = (
    "2017-03-01-preview", "2021-11-01-preview", "2022-02-01", "2022-02-01-preview", "2022-07-01-preview",
    "2022-08-01-preview", "2023-01-01-preview", "2023-10-01",
)


def _since(versions: tuple[str, ...], first: str) -> tuple[str, ...]:
    """A child type that appeared in a later version of its provider."""
    return versions[versions.index(first):]


# What each simulated resource type takes. A type a version did not have yet is refused in that version.
RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "Microsoft.Resources/resourceGroups": ARM,
    "Microsoft.Resources/subscriptions": ARM,
    "Microsoft.Resources/tenants": ARM,
    "Microsoft.Resources/providers": ARM,
    "Microsoft.Network/virtualNetworks": NETWORK,
    "Microsoft.Network/virtualNetworks/subnets": NETWORK,
    # VNet peering came with Microsoft.Network 2016-06-01.
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings": _since(NETWORK, "2016-06-01"),
    "Microsoft.Network/networkInterfaces": NETWORK,
    # Private endpoints came with 2019-04-01, their DNS zone groups with 2020-03-01 (the first versions whose models
    # have them in azure-mgmt-network 19.3's per-version folders, which are generated from the specs).
    "Microsoft.Network/privateEndpoints": _since(NETWORK, "2019-04-01"),
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": _since(NETWORK, "2020-03-01"),
    # Private DNS zones poll Microsoft.Network's operations with their own api-versions.
    "Microsoft.Network/locations/operations": tuple(sorted({*NETWORK, *PRIVATE_DNS})),
    "Microsoft.Network/locations/operationResults": tuple(sorted({*NETWORK, *PRIVATE_DNS})),
    "Microsoft.Network/privateDnsZones": PRIVATE_DNS,
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": PRIVATE_DNS,
    **{f"Microsoft.Network/privateDnsZones/{record_type}": PRIVATE_DNS
       for record_type in ("A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT", "ALL")},
    "Microsoft.Storage/storageAccounts": STORAGE,
    "Microsoft.Storage/checkNameAvailability": STORAGE,
    # Storage's private endpoint connections came with 2019-06-01 (azure-mgmt-storage 16's v2019_06_01, not 2019_04_01).
    "Microsoft.Storage/storageAccounts/privateEndpointConnections": _since(STORAGE, "2019-06-01"),
    "Microsoft.Storage/locations/operations": STORAGE,
    "Microsoft.Storage/locations/operationResults": STORAGE,
    "Microsoft.Compute/disks": DISK,
    "Microsoft.Compute/snapshots": DISK,
    # Disk encryption sets came with DiskRP 2019-07-01 (azure-mgmt-compute 27.2's v2019_07_01; not v2019_03_01).
    "Microsoft.Compute/diskEncryptionSets": _since(DISK, "2019-07-01"),
    "Microsoft.Compute/availabilitySets": COMPUTE,
    "Microsoft.Compute/virtualMachines": COMPUTE,
    "Microsoft.Compute/locations/vmSizes": COMPUTE,
    "Microsoft.Compute/skus": SKUS,
    # An operation is polled with the api-version of the request that started it, disk or VM.
    "Microsoft.Compute/locations/operations": tuple(sorted({*COMPUTE, *DISK})),
    "Microsoft.Compute/locations/operationResults": tuple(sorted({*COMPUTE, *DISK})),
    "Microsoft.Authorization/permissions": AUTHORIZATION,
    "Microsoft.Authorization/roleAssignments": ROLE_ASSIGNMENTS,
    "Microsoft.Resources/locations/operations": ARM,
    "Microsoft.Resources/locations/operationResults": ARM,
    "Microsoft.SqlVirtualMachine/sqlVirtualMachines": SQL_VIRTUAL_MACHINE,
    "Microsoft.SqlVirtualMachine/locations/operations": SQL_VIRTUAL_MACHINE,
    "Microsoft.SqlVirtualMachine/locations/operationResults": SQL_VIRTUAL_MACHINE,
}

# Fields of a response that a version does not have yet, by the version that brought them: left out of the
# answer to an older version. A path walks dicts by key and every item of a list with "[]". Each first version is
# the first in which the resource's model has the field in the per-version folders of azure-mgmt-compute 27.2,
# azure-mgmt-network 19.3, azure-mgmt-resource 21.2 (subscriptions), azure-mgmt-privatedns 1.0/1.1 and
# azure-mgmt-authorization 4 (role assignments), which are
# generated from those versions' swagger, and at the boundaries the simulator moved, in the swagger itself
# (subscriptions.json 2019-11-01, commit 06717c1f: tags; privatedns.json 2020-01-01, commit 04c2cb7b: internalId).
INTRODUCED: dict[str, dict[str, str]] = {
    "Microsoft.Resources/subscriptions": {
        "managedByTenants": "2019-06-01",
        "tags": "2019-11-01",
    },
    "Microsoft.Compute/disks": {
        "properties.encryption": "2019-07-01",       # with disk encryption sets
        "properties.networkAccessPolicy": "2020-05-01",
        "properties.publicNetworkAccess": "2021-04-01",
    },
    "Microsoft.Compute/snapshots": {
        "properties.incremental": "2019-03-01",
        "properties.encryption": "2019-07-01",
        "properties.networkAccessPolicy": "2020-05-01",
        "properties.publicNetworkAccess": "2021-04-01",
    },
    "Microsoft.Compute/virtualMachines": {
        "properties.storageProfile.osDisk.deleteOption": "2021-03-01",
        "properties.storageProfile.dataDisks[].deleteOption": "2021-03-01",
        "properties.storageProfile.dataDisks[].toBeDetached": "2019-03-01",
        "properties.timeCreated": "2021-11-01",
    },
    "Microsoft.Network/privateEndpoints": {
        "properties.customNetworkInterfaceName": "2021-05-01",
        "properties.ipConfigurations": "2021-05-01",
        "properties.applicationSecurityGroups": "2021-05-01",
    },
    "Microsoft.Network/privateDnsZones": {
        "properties.internalId": "2020-01-01",
    },
    "Microsoft.Authorization/roleAssignments": {
        "properties.principalType": "2018-09-01-preview",
    },
}


def supported(resource_type: str) -> tuple[str, ...]:
    return RESOURCE_TYPES[resource_type]


def shaped(resource_type: str | None, api_version: str | None, body: Any) -> Any:
    """The body as that version writes it: a copy without the fields the version does not have. Listings
    ({"value": [...]}) are shaped item by item, each by its own type (an operation's result is a resource)."""
    if not api_version or not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    items = body["value"] if isinstance(body.get("value"), list) and "id" not in body else [body]
    for item in items:
        item_type = item.get("type") if isinstance(item, dict) and item.get("type") in INTRODUCED else resource_type
        for path, first in INTRODUCED.get(item_type or "", {}).items():
            if api_version < first:
                _drop(item, path.split("."))
    return body


def _drop(node: Any, keys: list[str]) -> None:
    key, rest = keys[0], keys[1:]
    each = key.endswith("[]")
    key = key.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return
    if not rest:
        node.pop(key)
        return
    for child in node[key] if each else [node[key]]:
        _drop(child, rest)


def markdown() -> str:
    """docs/lab.md's table of what the simulator does per resource type and version, from this module
    (tests/arm/test_api_versions.py holds the document to it)."""
    lists = {"ARM": ARM, "NETWORK": NETWORK, "PRIVATE_DNS": PRIVATE_DNS, "COMPUTE": COMPUTE, "DISK": DISK,
             "SKUS": SKUS, "STORAGE": STORAGE, "AUTHORIZATION": AUTHORIZATION,
             "ROLE_ASSIGNMENTS": ROLE_ASSIGNMENTS, "SQL_VIRTUAL_MACHINE": SQL_VIRTUAL_MACHINE}
    rows = ["| resource type | served (oldest … newest, count) | left out of older versions |",
            "| --- | --- | --- |"]
    for resource_type, versions in RESOURCE_TYPES.items():
        if "/locations/operation" in resource_type or resource_type.rsplit("/", 1)[1].isupper():
            continue  # polled operations, and record sets that follow their zone
        source = next((name for name, listed in lists.items() if listed[-len(versions):] == versions), "")
        served = f"{versions[0]} … {versions[-1]} ({len(versions)}, `{source}`)"
        fields = "; ".join(f"`{path}` before {first}" for path, first in INTRODUCED.get(resource_type, {}).items())
        rows.append(f"| {resource_type} | {served} | {fields or '—'} |")
    full = [f"- `{name}`: {', '.join(listed)}" for name, listed in lists.items()]
    return "\n".join([*rows, "", *full])
