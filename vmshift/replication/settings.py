"""Where replication keeps what it writes (replicas, manifests, state documents in the cache account) and how hard
the mover pushes; `ReplicationSettings.from_env` reads the appliance's settings."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from vmshift.replication.manifest import Manifest
from vmshift.replication.mover import MoverSettings
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import StateStore

LIFT_CAP_IN_OUTAGE_ENV = "VMSHIFT_LIFT_BANDWIDTH_CAP_IN_OUTAGE"


@dataclass(frozen=True)
class ReplicationSettings:
    """Where replicas and state go, and how the mover runs; `from_env` reads the appliance's settings."""

    cache_account: str
    replica_container: str = "vmshift-replicas"
    state_container: str = "vmshift-state"
    mover: MoverSettings = field(default_factory=MoverSettings)
    keep_recovery_points: int = 3
    # The cutover's final delta ignores the bandwidth cap: its outage then lasts what the changed bytes take at
    # full speed, at the cost of the link the appliance's other VMs share. Off unless asked for.
    cap_lifted_in_outage: bool = False

    @classmethod
    def from_env(cls, cache_account: str | None = None) -> ReplicationSettings:
        account = cache_account or os.environ.get("VMSHIFT_CACHE_ACCOUNT")
        if not account:
            raise ValueError("no cache storage account: pass one or set VMSHIFT_CACHE_ACCOUNT")
        cap = os.environ.get("VMSHIFT_BANDWIDTH_MB_S")
        mover = MoverSettings(
            concurrency=int(os.environ.get("VMSHIFT_REPLICATION_CONCURRENCY", "8")),
            bandwidth_mb_s=float(cap) if cap else None,
        )
        lifted = os.environ.get(LIFT_CAP_IN_OUTAGE_ENV, "no").strip().lower()
        if lifted not in ("yes", "no"):
            raise ValueError(f"{LIFT_CAP_IN_OUTAGE_ENV}={lifted!r}: say yes or no")
        return cls(account, mover=mover, keep_recovery_points=int(os.environ.get("VMSHIFT_RECOVERY_POINTS", "3")),
                   cap_lifted_in_outage=lifted == "yes")

    def for_outage(self) -> ReplicationSettings:
        """The settings of a cutover's final delta: these, without the bandwidth cap when it is lifted then."""
        if not self.cap_lifted_in_outage:
            return self
        return replace(self, mover=replace(self.mover, bandwidth_mb_s=None))


@dataclass
class ReplicationClients:
    """The cache account's containers as replication uses them: a disk's replica page blob among the replicas,
    its manifest beside the VM's state document."""

    store: StateStore
    blob_service: BlobServiceClient
    settings: ReplicationSettings

    def replica(self, vm: str, key: str) -> PageBlobReplica:
        container = self.blob_service.get_container_client(self.settings.replica_container)
        return PageBlobReplica(container, f"{vm}/disk-{key}.vhd", owner=f"{vm}/disk-{key}")

    def manifest(self, vm: str, key: str) -> Manifest:
        container = self.blob_service.get_container_client(self.settings.state_container)
        return Manifest(container, f"{vm}/disk-{key}.manifest", owner=f"{vm}/disk-{key}")


def open_clients(settings: ReplicationSettings, blob_service: BlobServiceClient | None = None) -> ReplicationClients:
    service = blob_service or blob_service_client(settings.cache_account)
    for name in (settings.replica_container, settings.state_container):
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)
    return ReplicationClients(StateStore(service.get_container_client(settings.state_container)), service, settings)
