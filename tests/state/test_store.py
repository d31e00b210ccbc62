import json

import pytest
from azure.storage.blob import ContainerClient

from vmshift.state.document import SCHEMA_VERSION, DiskState
from vmshift.state.store import StateConflict, StateCorrupt, StateSchemaTooNew, StateStore

pytestmark = pytest.mark.lab  # Azurite


def test_state_round_trips_with_its_schema_version(state_container: ContainerClient) -> None:
    store = StateStore(state_container)
    stored = store.load("app-linux-01")
    assert stored.etag is None and stored.state.phase == "new"
    stored.state.disks["2000"] = DiskState(key=2000, blob_name="app-linux-01/disk-2000.vhd", capacity_bytes=1 << 26)
    stored.state.disks["2000"].change_id = "52 1c/3"
    store.save(stored)
    again = store.load("app-linux-01")
    assert again.state == stored.state
    assert again.etag == stored.etag
    raw = json.loads(state_container.download_blob("app-linux-01.json").readall())
    assert raw["schema_version"] == SCHEMA_VERSION


def test_second_writer_gets_a_conflict_and_the_first_writers_state_is_kept(state_container: ContainerClient) -> None:
    store = StateStore(state_container)
    store.save(store.load("vm-b"))
    first, second = store.load("vm-b"), store.load("vm-b")
    first.state.phase = "replicating"
    store.save(first)
    second.state.phase = "failed"
    with pytest.raises(StateConflict, match="another writer"):
        store.save(second)
    assert store.load("vm-b").state.phase == "replicating"


def test_two_first_writers_conflict_too(state_container: ContainerClient) -> None:
    store = StateStore(state_container)
    first, second = store.load("vm-c"), store.load("vm-c")
    store.save(first)
    with pytest.raises(StateConflict):
        store.save(second)


def test_state_from_a_newer_vmshift_is_refused_and_left_as_is(state_container: ContainerClient) -> None:
    body = json.dumps({"schema_version": SCHEMA_VERSION + 1, "vm": "vm-d", "phase": "whatever"}).encode()
    state_container.upload_blob("vm-d.json", body)
    with pytest.raises(StateSchemaTooNew, match="upgrade vmshift"):
        StateStore(state_container).load("vm-d")
    assert state_container.download_blob("vm-d.json").readall() == body


def test_a_version_1_document_reads_as_the_current_version_and_keeps_its_replication(
    state_container: ContainerClient,
) -> None:
    disk = {"key": 2000, "blob_name": "vm-v1/disk-2000.vhd", "capacity_bytes": 1 << 26, "change_id": "52 1c/7"}
    state_container.upload_blob("vm-v1.json", json.dumps(
        {"schema_version": 1, "vm": "vm-v1", "phase": "protected", "cycles": 3, "disks": {"2000": disk}}).encode())
    store = StateStore(state_container)

    stored = store.load("vm-v1")

    assert stored.state.schema_version == SCHEMA_VERSION == 2
    assert (stored.state.phase, stored.state.cycles) == ("protected", 3)
    assert stored.state.disks["2000"].change_id == "52 1c/7" and stored.state.source_shut_down_at is None
    store.save(stored)
    assert json.loads(state_container.download_blob("vm-v1.json").readall())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("body", [
    b"\x00\xffnot json", b"[]", b'{"vm": "vm-e"}', b'{"schema_version": "1", "vm": "vm-e"}',
    json.dumps({"schema_version": SCHEMA_VERSION, "vm": "vm-e", "cycles": "many"}).encode(),
    json.dumps({"schema_version": SCHEMA_VERSION, "vm": "vm-e", "disks": {"2000": {"key": "x"}}}).encode(),
])
def test_a_broken_state_document_is_named_and_left_as_is(state_container: ContainerClient, body: bytes) -> None:
    state_container.upload_blob("vm-e.json", body, overwrite=True)
    with pytest.raises(StateCorrupt, match=r"vm-e\.json"):
        StateStore(state_container).load("vm-e")
    assert state_container.download_blob("vm-e.json").readall() == body
