"""An appliance runs at most VMSHIFT_PREPARATIONS libguestfs VMs at a time, whichever process (flow run) asks:
the others wait for a slot, and a slot comes free when its holder ends, even by dying."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading

import pytest

from vmshift.preparation.appliance import preparation_slot

HOLD = """from vmshift.preparation.appliance import preparation_slot
with preparation_slot():
    print("held", flush=True)
    input()
"""


@pytest.fixture(autouse=True)
def one_slot(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("VMSHIFT_PREPARATIONS", "1")
    folder = tmp_path_factory.mktemp("slots")  # slots of this test only, for this process and those it starts
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def holder() -> subprocess.Popen:
    """Another process (another flow run) holding the slot until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_preparation_waits_while_another_process_holds_the_appliances_only_slot() -> None:
    other = holder()
    entered = threading.Event()
    waiting = threading.Thread(target=lambda: _enter(entered))
    waiting.start()
    try:
        assert not entered.wait(1.5)  # still waiting: the other process holds the slot
        assert other.stdin is not None
        other.stdin.close()  # the other preparation ends
        assert entered.wait(30)
    finally:
        other.kill()
        waiting.join(30)


def test_the_slot_of_a_process_that_died_is_free_again() -> None:
    other = holder()
    other.kill()
    other.wait(30)
    entered = threading.Event()
    _enter(entered)
    assert entered.is_set()


def _enter(entered: threading.Event) -> None:
    with preparation_slot(poll_s=0.1):
        entered.set()
