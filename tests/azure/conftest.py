"""Fixtures of the Azure side's lab tests: SDK clients on the lab's ARM, recovery points in its Azurite."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.mgmt.core.tools import resource_id
from azure.mgmt.resource.resources import ResourceManagementClient

from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.tags import RUN_TAG
from vmshift.azure.vms import TargetNic, TargetVmSpec, target_disks
from vmshift.migration.cutover import CutoverResult, cutover
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.storage import blob_service_client
from vmshift.state.lifecycle import Actor, Step
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VCenterConfig, VSphereSession
from vmshift.vsphere.connection import connect as connect_vcenter

CACHE_ACCOUNT = "vmshiftcache01"
TARGET_GROUP = "rg-target"
TEST_RUN_PREFIX = "azure-test-"  # the run tag of everything these tests build
REPLICAS = "vmshift-replicas"
SETTINGS = ReplicationSettings(cache_account=CACHE_ACCOUNT)
ENGINE_TESTS = Actor("tests/azure", run="engine")  # who takes the lifecycle steps around the engine here


@pytest.fixture(scope="session")
def azure(lab: dict) -> AzureClients:
    """The product's own clients, configured from the lab's environment as a user's shell would be."""
    return connect()


@pytest.fixture(scope="session")
def groups(owner: AzureClients) -> ResourceManagementClient:
    """Resource groups and the resources each holds (`resources.list_by_resource_group`), as their owner sees
    them."""
    return ResourceManagementClient(owner.credential, owner.config.subscription_id,
                                    base_url=owner.config.arm_endpoint, connection_verify=owner.config.ca_file,
                                    credential_scopes=["https://management.azure.com/.default"])


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


@pytest.fixture(scope="module")
def session(lab: dict) -> VSphereSession:
    return connect_vcenter(VCenterConfig.from_env())


@pytest.fixture(scope="module")
def store(lab: dict) -> StateStore:
    return StateStore.for_account(CACHE_ACCOUNT, SETTINGS.state_container)


@pytest.fixture(scope="module")
def engine_cutover(store: StateStore) -> Callable[..., CutoverResult]:
    """`engine_cutover(vm, *cutover's arguments)`: the cutover engine with the lifecycle steps the row-level
    `cut_over_vm` takes around it (cutting-over, then migrated, or back where it was when it failed)."""
    def cut_over(vm: str, *args: object, **kwargs: object) -> CutoverResult:
        store.advance(vm, Step.CUTOVER, ENGINE_TESTS)
        try:
            result = cutover(*args, **kwargs)
        except Exception:
            store.advance(vm, Step.CUTOVER_FAILED, ENGINE_TESTS)
            raise
        store.advance(vm, Step.CUTOVER_DONE, ENGINE_TESTS)
        return result
    return cut_over


@pytest.fixture(scope="session")
def spec_from_state(ids: Callable[..., str]) -> Callable[..., Callable[[], TargetVmSpec]]:
    """`spec_from_state(store, vm, disk keys, **settings)`: the target spec from the VM's latest recovery point,
    as the flows build it from the plan (the first key's disk is the OS disk, on Premium SSD)."""

    def make(store: StateStore, vm: str, keys: list[int], **settings: object) -> Callable[[], TargetVmSpec]:
        def spec() -> TargetVmSpec:
            state = store.load(vm).state
            return TargetVmSpec(
                source_vm=vm,
                resource_group=TARGET_GROUP,
                region="westeurope",
                storage_account_id=ids("rg-migration", "storageAccounts", CACHE_ACCOUNT),
                nics=(TargetNic(ids(TARGET_GROUP, "virtualNetworks", "vnet-target", "snet-data")),),
                os_disk_key=keys[0],
                disks=target_disks(state, disk_skus={keys[0]: "Premium_LRS"}, default_sku="StandardSSD_LRS"),
                **settings,
            )

        return spec

    return make


@pytest.fixture(scope="session")
def arm_faults(lab: dict) -> Callable[[dict], None]:
    """The ARM simulator's admin endpoint: `arm_faults(plan)` fails the next requests to an operation, as
    Azure may; `arm_faults({})` ends the plan."""

    def plan(faults: dict) -> None:
        answer = requests.post(f"{lab['arm']['endpoint']}/_lab/faults", json=faults, verify=lab["ca_file"],
                               timeout=10)
        answer.raise_for_status()

    return plan
