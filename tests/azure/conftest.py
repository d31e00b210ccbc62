"""Fixtures of the Azure side's lab tests: SDK clients on the lab's ARM, recovery points in its Azurite."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.mgmt.core.tools import resource_id

from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.tags import RUN_TAG
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.storage import blob_service_client

CACHE_ACCOUNT = "vmshiftcache01"
TARGET_GROUP = "rg-target"
TEST_RUN_PREFIX = "azure-test-"  # the run tag of everything these tests build
REPLICAS = "vmshift-replicas"


@pytest.fixture(scope="session")
def azure(lab: dict) -> AzureClients:
    """The product's own clients, configured from the lab's environment as a user's shell would be."""
    return connect()


@pytest.fixture(scope="module")
def tidy_target_group(azure: AzureClients) -> Iterator[None]:
    """After the module: the VMs, NICs and disks its tests built (run tags `azure-test-*`) are deleted, so that
    later tests of the session find the target group as the lab seeded it."""
    yield

    def ours(resource: object) -> bool:
        return ((getattr(resource, "tags", None) or {}).get(RUN_TAG) or "").startswith(TEST_RUN_PREFIX)

    compute, network = azure.compute, azure.network
    for vm in [v for v in compute.virtual_machines.list(TARGET_GROUP) if ours(v)]:
        compute.virtual_machines.begin_delete(TARGET_GROUP, vm.name).result()
    for nic in [n for n in network.network_interfaces.list(TARGET_GROUP) if ours(n)]:
        network.network_interfaces.begin_delete(TARGET_GROUP, nic.name).result()
    for disk in [d for d in compute.disks.list_by_resource_group(TARGET_GROUP) if ours(d)]:
        compute.disks.begin_delete(TARGET_GROUP, disk.name).result()


@pytest.fixture(scope="session")
def ids(lab: dict) -> Callable[..., str]:
    subscription = lab["arm"]["subscription_id"]

    def make(resource_group: str, kind: str, name: str, child: str | None = None, namespace: str = "") -> str:
        namespace = (
            namespace
            or {
                "virtualNetworks": "Microsoft.Network",
                "storageAccounts": "Microsoft.Storage",
                "availabilitySets": "Microsoft.Compute",
                "diskEncryptionSets": "Microsoft.Compute",
            }[kind]
        )
        base = resource_id(
            subscription=subscription, resource_group=resource_group, namespace=namespace, type=kind, name=name
        )
        return f"{base}/subnets/{child}" if child else base

    return make


@pytest.fixture(scope="session")
def recovery_point(lab: dict) -> Callable[[str, dict[int, bytes]], dict[int, str]]:
    """Writes disks into replica page blobs of the cache account with the mover's own code and snapshots
    them: a recovery point, as the mover leaves one; returns each disk's blob snapshot URI."""
    service = blob_service_client(CACHE_ACCOUNT)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(REPLICAS)
    container = service.get_container_client(REPLICAS)

    def make(vm: str, disks: dict[int, bytes]) -> dict[int, str]:
        uris = {}
        for key, data in disks.items():
            replica = PageBlobReplica(container, f"{vm}-{uuid.uuid4().hex[:8]}/disk-{key}.vhd", f"{vm}/disk-{key}")
            replica.ensure(len(data))
            for offset in range(0, len(data), 4 << 20):
                chunk = data[offset : offset + (4 << 20)]
                if any(chunk):
                    replica.upload_page(offset, chunk)
            uris[key] = f"{replica.url}?snapshot={replica.snapshot({'test': vm})}"
        return uris

    return make
