from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from images import download, random_bytes, write_image

from vmshift.replication.checkpoint import Checkpointer, DiskProgress, remaining
from vmshift.replication.extents import MIB, DiskExtent, plan_areas, split, total_bytes
from vmshift.replication.mover import MoverSettings, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import LocalDiskReader
from vmshift.state.document import CycleInProgress, DiskCheckpoint
from vmshift.state.store import StateStore

pytestmark = pytest.mark.lab  # Azurite

SIZE = 24 * MIB
SETTINGS = MoverSettings(concurrency=3, chunk_size=MIB)


class DiskGoneAfter(LocalDiskReader):
    """A source that fails after some reads, as when the appliance loses the datastore mid-run."""

    def __init__(self, path: Path, reads: int) -> None:
        super().__init__(path)
        self.reads_left = reads

    def read(self, offset: int, length: int) -> bytes:
        self.reads_left -= 1
        if self.reads_left < 0:
            raise ConnectionError("datastore went away")
        return super().read(offset, length)


class RecordingReplica(PageBlobReplica):
    def __init__(self, container: ContainerClient) -> None:
        super().__init__(container, "vm-r/disk-2000.vhd", owner="vm-r/disk-2000")
        self.uploaded: list[DiskExtent] = []

    def upload_page(self, offset: int, data: bytes) -> None:
        super().upload_page(offset, data)
        self.uploaded.append(DiskExtent(offset, len(data)))


def run_with_checkpoints(
    store: StateStore, reader: LocalDiskReader, replica: PageBlobReplica, areas: list[DiskExtent]
) -> None:
    planned = plan_areas(areas, SIZE)
    progress = DiskProgress(total_bytes(planned))

    def save(checkpoint: DiskCheckpoint, _sent: int) -> None:
        stored = store.load("vm-r")
        assert stored.state.in_progress is not None
        stored.state.in_progress.checkpoints["2000"] = checkpoint
        store.save(stored)

    with Checkpointer(progress, save) as checkpointer:
        writes = progress.track(split(planned, SETTINGS.chunk_size))
        move(reader, replica, writes, SETTINGS, skip_zero=True, on_written=checkpointer.written)


def test_an_interrupted_copy_resumes_from_its_checkpoint_and_redoes_at_most_the_writes_in_flight(
    container: ContainerClient, tmp_path: Path
) -> None:
    image = write_image(tmp_path / "disk.raw", SIZE, {0: random_bytes(SIZE, 11)})
    store = StateStore(container)
    stored = store.load("vm-r")
    stored.state.in_progress = CycleInProgress(cycle=1, kind="initial", started_at="2026-01-01T00:00:00Z")
    store.save(stored)
    replica = RecordingReplica(container)
    replica.ensure(SIZE)
    whole = [DiskExtent(0, SIZE)]

    with pytest.raises(ConnectionError):
        run_with_checkpoints(store, DiskGoneAfter(image, reads=10), replica, whole)
    first_run = list(replica.uploaded)
    checkpoint = store.load("vm-r").state.in_progress.checkpoints["2000"]
    assert 0 < checkpoint.resume_offset < SIZE

    replica.uploaded.clear()
    with LocalDiskReader(image) as reader:
        run_with_checkpoints(store, reader, replica, remaining(whole, checkpoint))
    sent_twice = sum(e.length for e in set(first_run) & set(replica.uploaded))
    assert sent_twice <= SETTINGS.concurrency * SETTINGS.chunk_size
    assert store.load("vm-r").state.in_progress.checkpoints["2000"].finished
    assert download(replica, tmp_path / "disk.vhd").read_bytes()[:SIZE] == image.read_bytes()
