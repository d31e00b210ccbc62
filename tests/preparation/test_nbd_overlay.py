"""The NBD view's plugin on its own (it is plain standard-library Python that nbdkit loads): writes go to the
overlay in whole 4 KiB blocks, partial blocks filled from the snapshot first; reads merge overlay and snapshot; the
snapshot is never written; the saved block list gives the changed extents."""

from __future__ import annotations

import importlib
import random
import subprocess
from pathlib import Path

import pytest

from vmshift.preparation import nbd_plugin
from vmshift.preparation.view import NbdView
from vmshift.replication.extents import DiskExtent

SIZE = 64 * 4096


class _Snapshot:
    """The recovery point's bytes, read as the plugin reads the blob; it counts reads and cannot be written."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.data[offset : offset + length]


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    module = importlib.reload(nbd_plugin)
    snapshot = _Snapshot(random.Random(5).randbytes(SIZE))
    (tmp_path / "url").write_text("https://example.invalid/c/b?snapshot=x&sig=y")
    for key, value in (("url_file", tmp_path / "url"), ("size", SIZE), ("overlay", tmp_path / "overlay")):
        module.config(key, str(value))
    module.config_complete()
    monkeypatch.setattr(module, "_Source", lambda url, ca_file: snapshot)
    handle = module.open(False)
    yield module, handle, snapshot, tmp_path / "overlay"


def test_a_partial_write_takes_its_block_from_the_snapshot_and_reads_merge_both(plugin) -> None:
    module, handle, snapshot, _overlay = plugin
    original = snapshot.data
    module.pwrite(handle, b"vmshift", 4096 + 100, 0)
    buffer = bytearray(3 * 4096)
    module.pread(handle, buffer, 0, 0)
    expected = bytearray(original[: 3 * 4096])
    expected[4096 + 100 : 4096 + 107] = b"vmshift"
    assert bytes(buffer) == bytes(expected)
    assert snapshot.data == original  # the recovery point is only read


def test_the_saved_block_list_gives_the_changed_extents_in_whole_blocks(plugin) -> None:
    module, handle, _snapshot, overlay = plugin
    module.pwrite(handle, b"a" * 10, 3 * 4096 - 5, 0)  # straddles blocks 2 and 3
    module.zero(handle, 4096, 40 * 4096, 0)
    module.close(handle)
    view = NbdView(Path("sock"), overlay, SIZE, subprocess.Popen(["true"]), Path("log"))
    assert view.written_extents() == [DiskExtent(2 * 4096, 2 * 4096), DiskExtent(40 * 4096, 4096)]
    assert view.read(40 * 4096, 4096) == bytes(4096)
