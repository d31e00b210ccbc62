import json

import pytest
from azure.storage.blob import ContainerClient

from vmshift.state.document import SCHEMA_VERSION, DiskState
from vmshift.state.lifecycle import Actor, LifecycleRefused, Phase, Step
from vmshift.state.store import StateConflict, StateCorrupt, StateSchemaTooNew, StateStore, StoredState

pytestmark = pytest.mark.lab  # Azurite


def test_state_round_trips_with_its_schema_version(state_container: ContainerClient) -> None:
    store = StateStore(state_container)
    stored = store.load("app-linux-01")
    assert stored.etag is None and stored.state.phase == "discovered"
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

    assert stored.state.schema_version == SCHEMA_VERSION == 5
    assert (stored.state.phase, stored.state.cycles, stored.state.history) == ("protected", 3, [])
    assert stored.state.disks["2000"].change_id == "52 1c/7" and stored.state.source_shut_down_at is None
    store.save(stored)
    assert json.loads(state_container.download_blob("vm-v1.json").readall())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize(("old", "phase"), [("new", "discovered"), ("migrated", "completed"),
                                           ("stopped", "stopped")])
def test_a_document_older_than_the_history_reads_with_its_phase_as_the_lifecycle_names_it(
    state_container: ContainerClient, version: int, old: str, phase: str,
) -> None:
    """Before version 4, "migrated" was set only when the migration was completed: it must not read as merely cut
    over, which a rollback would accept."""
    state_container.upload_blob("vm-v2.json", json.dumps(
        {"schema_version": version, "vm": "vm-v2", "phase": old, "cycles": 4}).encode(), overwrite=True)
    store = StateStore(state_container)

    stored = store.load("vm-v2")

    assert (stored.state.phase, stored.state.history) == (phase, [])
    store.save(stored)
    saved = json.loads(state_container.download_blob("vm-v2.json").readall())
    assert (saved["schema_version"], saved["phase"]) == (SCHEMA_VERSION, phase)


def test_a_phase_no_vmshift_knows_is_named_and_left_as_is(state_container: ContainerClient) -> None:
    body = json.dumps({"schema_version": SCHEMA_VERSION, "vm": "vm-f", "phase": "half-migrated"}).encode()
    state_container.upload_blob("vm-f.json", body)
    with pytest.raises(StateCorrupt, match=r"vm-f\.json .*phase"):
        StateStore(state_container).load("vm-f")


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


def test_a_lifecycle_step_is_saved_over_another_writers_change_and_a_refused_one_writes_nothing(
    state_container: ContainerClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, actor = StateStore(state_container), Actor("migrate-wave", run="run-1", by="ana@appliance-01")
    assert store.advance("vm-g", Step.CLEANUP_TEST, actor).etag is None  # nothing to clean, no document made
    store.advance("vm-g", Step.BLOCK, actor, note="2 existing snapshot(s)", as_error=True)
    load, raced = store.load, []

    def load_then_another_writer_saves(vm: str) -> StoredState:  # a delta cycle saves right after the first read
        stored = load(vm)
        if not raced:
            raced.append(store.save(load(vm)))
        return stored
    monkeypatch.setattr(store, "load", load_then_another_writer_saves)

    stored = store.advance("vm-g", Step.REPLICATE, actor)

    monkeypatch.undo()
    assert raced and store.load("vm-g").etag == stored.etag and stored.state.phase == Phase.REPLICATING
    assert [(c.step, c.phase, c.run, c.note) for c in stored.state.history] == [
        (Step.BLOCK, Phase.BLOCKED, "run-1", "2 existing snapshot(s)"),
        (Step.REPLICATE, Phase.REPLICATING, "run-1", None)]
    with pytest.raises(LifecycleRefused, match="complete of vm-g refused: replicating at "):
        store.advance("vm-g", Step.COMPLETE, actor)
    assert store.load("vm-g").etag == stored.etag


def test_a_stop_before_any_cycle_is_the_accounts_first_document_and_makes_its_container(
    state_container: ContainerClient,
) -> None:
    store = StateStore(state_container)
    state_container.delete_container()  # a cache account nothing has replicated to yet
    try:
        store.advance("vm-first", Step.STOP, Actor("replicate-vm", run="run-9"), note="CycleStopped: asked",
                      as_error=True)
        stored = store.load("vm-first")
    finally:
        store.ensure_container()  # for the fixture to delete, however the step went
    assert (stored.state.phase, stored.state.error, stored.state.history[-1].run) == (
        Phase.STOPPED, "CycleStopped: asked", "run-9")
