"""The state store's tests use the lab's Azurite, one fresh container per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import ContainerClient

from vmshift.replication.storage import blob_service_client


@pytest.fixture
def state_container(lab: dict) -> Iterator[ContainerClient]:
    account = "vmshiftcache01"
    assert account in lab["azurite"]["accounts"]
    client = blob_service_client(account).create_container(f"state-{uuid.uuid4().hex[:16]}")
    yield client
    client.delete_container()
