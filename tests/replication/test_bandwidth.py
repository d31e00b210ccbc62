from vmshift.replication.mover import BandwidthCap


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
