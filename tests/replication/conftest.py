"""Blob storage for the data mover's tests: the lab's Azurite, one fresh container per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.extents import MIB
from vmshift.replication.mover import MoverSettings
from vmshift.replication.storage import blob_service_client
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect

CACHE_ACCOUNT = "vmshiftcache01"


@pytest.fixture(scope="session")
def blob_service(lab: dict) -> BlobServiceClient:
    """The cache account, reached through the product's own configuration (lab.env is in os.environ)."""
    assert CACHE_ACCOUNT in lab["azurite"]["accounts"]
    return blob_service_client(CACHE_ACCOUNT)


@pytest.fixture
def container(blob_service: BlobServiceClient) -> Iterator[ContainerClient]:
    client = blob_service.create_container(f"t-{uuid.uuid4().hex[:20]}")
    yield client
    client.delete_container()


@pytest.fixture(scope="module")
def session(lab: dict) -> Iterator[VSphereSession]:
    """A vCenter session as the product opens it, from the lab's environment."""
    with connect(VCenterConfig.from_env()) as opened:
        yield opened


@pytest.fixture(scope="module")
def replication(blob_service: BlobServiceClient) -> Iterator[ReplicationSettings]:
    """Replication settings with containers of the test module's own, removed after it."""
    run = uuid.uuid4().hex[:10]
    chosen = ReplicationSettings(
        cache_account=CACHE_ACCOUNT,
        replica_container=f"replicas-{run}",
        state_container=f"state-{run}",
        mover=MoverSettings(concurrency=4, chunk_size=MIB),  # small: guest writes straddle chunk borders
        keep_recovery_points=2,
    )
    yield chosen
    for name in (chosen.replica_container, chosen.state_container):
        blob_service.delete_container(name)
