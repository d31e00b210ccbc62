import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vmshift.migration import cutover
from vmshift.plan.validation import validate_plan
from vmshift.replication.extents import MIB, DiskExtent, plan_writes
from vmshift.replication.mover import BandwidthCap, MoverSettings, appliance_cap, move
from vmshift.replication.settings import LIFT_CAP_IN_OUTAGE_ENV, ReplicationSettings
from vmshift.state.lifecycle import Actor

EXAMPLE_PLAN = Path(__file__).resolve().parents[2] / "examples" / "waves.csv"


class FakeClock:
    """Time that moves only when the cap sleeps, so the test asserts the schedule, not the wall clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bandwidth_cap_spaces_page_writes_to_the_configured_rate() -> None:
    clock = FakeClock()
    cap = BandwidthCap(2.0, clock=clock, sleep=clock.sleep)  # 2 MB/s
    for _ in range(4):
        cap.take(1_000_000)
    assert clock.slept == [0.5, 0.5, 0.5]  # the first megabyte goes at once, each next one half a second later
    assert clock.now == 101.5


def test_an_idle_appliance_does_not_bank_bandwidth_for_later() -> None:
    clock = FakeClock()
    cap = BandwidthCap(1.0, clock=clock, sleep=clock.sleep)
    cap.take(1_000_000)
    clock.now += 60  # idle for a minute
    cap.take(1_000_000)
    cap.take(1_000_000)
    assert clock.slept == [1.0]


class MemoryDisk:
    """A disk of non-zero bytes and a replica that keeps nothing: the cap is all these tests look at."""

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        return b"\x01" * length

    def upload_page(self, offset: int, data: bytes) -> None:
        pass

    def clear_page(self, offset: int, length: int) -> None:
        pass


class FrozenClock(FakeClock):
    """Time that never moves: each sleep the cap asks for is then the write's start after the first one."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)


def test_two_disks_moved_at_once_share_the_appliance_cap(tmp_path: Path) -> None:
    clock = FrozenClock()
    rate = 1048.576  # MB/s: one 1 MiB write per millisecond; a rate no other test uses, so the bucket is new
    appliance_cap(rate, clock=clock, sleep=clock.sleep, ledger_dir=tmp_path)
    settings = MoverSettings(concurrency=4, chunk_size=MIB, bandwidth_mb_s=rate)
    disk = MemoryDisk(8 * MIB)
    moves = [
        threading.Thread(
            target=move,
            args=(disk, disk, plan_writes([DiskExtent(0, disk.size)], disk.size, MIB), settings),
            kwargs={"skip_zero": True},
        )
        for _ in range(2)
    ]
    for thread in moves:
        thread.start()
    for thread in moves:
        thread.join()
    # 16 writes of 1 MiB through one bucket: the last starts 15 ms after the first, not 7 ms as with a cap per disk.
    assert sorted(clock.slept) == pytest.approx([k / 1000 for k in range(1, 16)])


def test_a_move_with_a_bandwidth_setting_goes_through_the_cap(tmp_path: Path) -> None:
    clock = FrozenClock()
    rate = 2.097152  # MB/s: a 1 MiB write every half second
    appliance_cap(rate, clock=clock, sleep=clock.sleep, ledger_dir=tmp_path)
    disk = MemoryDisk(4 * MIB)
    settings = MoverSettings(concurrency=2, chunk_size=MIB, bandwidth_mb_s=rate)
    result = move(disk, disk, plan_writes([DiskExtent(0, disk.size)], disk.size, MIB), settings, skip_zero=True)
    assert result.bytes_sent == 4 * MIB
    assert sorted(clock.slept) == pytest.approx([0.5, 1.0, 1.5])


def test_two_processes_of_one_appliance_share_the_cap_through_its_ledger(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = tmp_path / "appliance.ledger"
    # Two buckets that share nothing but the ledger file, as two flow-run processes of one appliance do.
    wave, delta = (BandwidthCap(1.0, clock=clock, sleep=clock.sleep, ledger=ledger) for _ in range(2))
    wave.take(1_000_000)
    delta.take(1_000_000)
    wave.take(1_000_000)
    assert clock.slept == [1.0, 1.0]  # 1 MB/s in all: each next megabyte a second later, whichever process sends it


def test_a_ledger_left_from_before_a_reboot_holds_nobody_back(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = tmp_path / "appliance.ledger"
    ledger.write_text(repr(clock.now + 10 * 86400))  # the monotonic clock of an earlier boot ran further
    cap = BandwidthCap(1.0, clock=clock, sleep=clock.sleep, ledger=ledger)
    cap.take(1_000_000)
    cap.take(1_000_000)
    assert clock.slept == [1.0]


def test_the_final_delta_keeps_the_appliances_cap_unless_it_is_lifted_for_the_outage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMSHIFT_BANDWIDTH_MB_S", "40")
    monkeypatch.setenv("VMSHIFT_REPLICATION_CONCURRENCY", "3")
    monkeypatch.setenv("VMSHIFT_RECOVERY_POINTS", "5")
    for name in ("URL", "USER", "PASSWORD", "DATACENTER"):  # a vCenter named, never reached: settings alone
        monkeypatch.setenv(f"VMSHIFT_VCENTER_{name}", "unused")
    monkeypatch.setattr(cutover, "connect_vcenter", lambda config: object())
    row = validate_plan(EXAMPLE_PLAN, now=datetime(2030, 1, 1, tzinfo=UTC)).raise_for_errors().waves[0].vms[0]

    kept = cutover.source_vm(row, Actor("tests")).settings
    assert (kept.mover.bandwidth_mb_s, kept.mover.concurrency, kept.keep_recovery_points) == (40.0, 3, 5)
    assert kept.cache_account == row.cache_storage_account

    monkeypatch.setenv(LIFT_CAP_IN_OUTAGE_ENV, "yes")
    lifted = cutover.source_vm(row, Actor("tests")).settings
    assert (lifted.mover.bandwidth_mb_s, lifted.mover.concurrency, lifted.keep_recovery_points) == (None, 3, 5)
    assert ReplicationSettings.from_env(row.cache_storage_account).mover.bandwidth_mb_s == 40.0  # cycles keep it

    monkeypatch.setenv(LIFT_CAP_IN_OUTAGE_ENV, "sometimes")
    with pytest.raises(ValueError, match="VMSHIFT_LIFT_BANDWIDTH_CAP_IN_OUTAGE='sometimes': say yes or no"):
        ReplicationSettings.from_env(row.cache_storage_account)


class Stopped(Exception):
    pass


def test_a_write_waiting_its_turn_under_the_cap_ends_its_wait_when_its_vm_is_stopped() -> None:
    clock = FakeClock()
    cap = BandwidthCap(0.1, clock=clock, sleep=clock.sleep)  # 0.1 MB/s: a megabyte's turn is 10 s away
    cap.take(1_000_000)
    checks = []

    def check() -> None:
        checks.append(clock.now)
        if len(checks) == 3:
            raise Stopped

    with pytest.raises(Stopped):
        cap.take(1_000_000, check)
    assert clock.slept == [0.5, 0.5, 0.5]  # asked every CAP_CHECK_S, then no more waiting
    cap.take(1_000_000, lambda: None)  # without a stop, the same wait in steps, to the same turn
    assert sum(clock.slept) == pytest.approx(20.0)


def test_a_stopped_move_sends_nothing_more_than_what_had_its_turn(tmp_path: Path) -> None:
    rate = 1.048577  # MB/s: a 1 MiB write a second; a rate no other test uses, so the bucket is new
    sent: list[int] = []
    stop = threading.Event()

    class Recording(MemoryDisk):
        def upload_page(self, offset: int, data: bytes) -> None:
            sent.append(offset)

    def check_stop() -> None:
        if stop.is_set():
            raise Stopped

    disk = Recording(16 * MIB)
    settings = MoverSettings(concurrency=8, chunk_size=MIB, bandwidth_mb_s=rate)
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(Stopped):
        move(disk, disk, plan_writes([DiskExtent(0, disk.size)], disk.size, MIB), settings, skip_zero=True,
             check_stop=check_stop)
    # The first write had its turn at once; the 7 others in flight stopped waiting theirs and were not sent.
    assert sent == [0]
