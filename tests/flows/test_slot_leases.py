"""A VM's cycle holds its slots under leases it takes and renews itself (tasks/slots.py, `SlotLease`): the Prefect
server counts them while the cycle runs and not after, refuses by name a limit it does not have or a VM asking
for more slots than a limit has, and a lease the server let go is taken again, so a host's limit keeps counting
the VM's reads."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

from tasks import slots
from vmshift.replication.cycle import CycleStopped

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _names(*kinds: str) -> list[str]:
    marker = uuid.uuid4().hex[:8]
    return [f"test-{kind}-{marker}" for kind in kinds]


async def _in_use(names: list[str]) -> dict[str, int]:
    async with get_client() as client:
        return {name: (await client.read_global_concurrency_limit_by_name(name)).active_slots for name in names}


def test_a_cycles_slots_count_on_the_server_while_held_and_are_given_back() -> None:
    host, datastore, disks = _names("host", "datastore", "disks")

    async def check() -> tuple[dict[str, int], dict[str, int]]:
        await slots.ensure_limits({host: 2, datastore: 4, disks: 4}, update=True)
        async with slots.held([(host, 2), (datastore, 2), (disks, 1)], threading.Event()):
            during = await _in_use([host, datastore, disks])
        return during, await _in_use([host, datastore, disks])

    during, after = asyncio.run(check())

    assert during == {host: 2, datastore: 2, disks: 1}
    assert after == {host: 0, datastore: 0, disks: 0}


def test_a_limit_missing_on_the_server_is_refused_by_name_and_nothing_stays_held() -> None:
    host, missing = _names("host", "missing")

    async def check() -> tuple[str, dict[str, int]]:
        await slots.ensure_limits({host: 1}, update=True)
        with pytest.raises(slots.SlotsRefused) as refused:
            async with slots.held([(host, 1), (missing, 1)], threading.Event()):
                pytest.fail("the cycle ran without its limits")
        return str(refused.value), await _in_use([host])

    message, after = asyncio.run(check())

    assert message.startswith(f"the concurrency limits {missing} are not on the Prefect server"), message
    assert "vmshift limits setup" in message and host not in message
    assert after == {host: 0}


def test_a_limit_switched_off_in_the_ui_limits_nothing_and_is_no_error() -> None:
    host, off = _names("host", "off")

    async def check() -> dict[str, int]:
        await slots.ensure_limits({host: 1, off: 1}, update=True)
        async with get_client() as client:
            await client.update_global_concurrency_limit(off, GlobalConcurrencyLimitUpdate(active=False))
        async with slots.held([(host, 1), (off, 1)], threading.Event()):
            return await _in_use([host, off])

    assert asyncio.run(check()) == {host: 1, off: 0}


def test_more_slots_than_a_limit_has_is_refused_with_what_to_do() -> None:
    (datastore,) = _names("datastore")

    async def check() -> str:
        await slots.ensure_limits({datastore: 2}, update=True)
        with pytest.raises(slots.SlotsRefused) as refused:
            async with slots.held([(datastore, 3)], threading.Event()):
                pytest.fail("the cycle ran with more slots than the limit has")
        return str(refused.value)

    message = asyncio.run(check())

    assert message.startswith(f"3 slots of each of {datastore} are asked for"), message
    assert "Prefect UI" in message


def test_a_cycle_waits_while_its_host_is_full_and_a_stop_ends_the_wait_with_nothing_taken() -> None:
    host, disks = _names("host", "disks")

    async def check() -> tuple[dict[str, int], dict[str, int]]:
        await slots.ensure_limits({host: 1, disks: 2}, update=True)
        stop = threading.Event()
        async with slots.held([(host, 1)], threading.Event()):
            waiting = asyncio.create_task(slots.held([(disks, 1), (host, 1)], stop).__aenter__())
            await asyncio.sleep(2)  # a few of the server's Retry-After
            assert not waiting.done()
            while_waiting = await _in_use([host, disks])
            stop.set()
            with pytest.raises(CycleStopped, match=host):
                await waiting
        return while_waiting, await _in_use([host, disks])

    while_waiting, after = asyncio.run(check())

    assert while_waiting == {host: 1, disks: 0}  # one lease for both: no disk slot is held while waiting
    assert after == {host: 0, disks: 0}


def test_a_lease_is_renewed_through_a_failed_renewal_and_taken_again_once_the_server_let_it_go(
        monkeypatch: pytest.MonkeyPatch) -> None:
    (host,) = _names("host")
    monkeypatch.setattr(slots, "RENEW_AT", 0.01)  # every 0.6 s of the 60 s lease
    monkeypatch.setattr(slots, "RENEW_RETRY_S", 0.1)
    renewals: list[str] = []

    async def check() -> tuple[list[int], uuid.UUID, uuid.UUID]:
        await slots.ensure_limits({host: 1}, update=True)
        async with get_client() as client:
            renew = client.renew_concurrency_lease

            async def flaky(lease_id: uuid.UUID, lease_duration: float) -> httpx.Response:
                if len(renewals) == 0:
                    renewals.append("unreachable")
                    raise httpx.ConnectError("the server is restarting")
                response = await renew(lease_id, lease_duration)
                renewals.append("renewed")
                return response
            monkeypatch.setattr(client, "renew_concurrency_lease", flaky)

            lease = await slots.SlotLease.take(client, [host], 1)
            assert lease is not None
            first = lease.lease_id
            while renewals.count("renewed") < 2:
                await asyncio.sleep(0.1)
            # The server lets the lease go, as it does once one has not been renewed for its whole duration.
            await client.release_concurrency_slots_with_lease(first)
            let_go = (await _in_use([host]))[host]
            while lease.lease_id == first:
                await asyncio.sleep(0.1)
            taken_again = (await _in_use([host]))[host]
            await lease.give_back()
            return [let_go, taken_again, (await _in_use([host]))[host]], first, lease.lease_id

    in_use, first, second = asyncio.run(asyncio.wait_for(check(), 60))

    assert renewals[:3] == ["unreachable", "renewed", "renewed"]
    assert in_use == [0, 1, 0]
    assert first != second


def test_a_lease_granted_to_a_cycle_cancelled_while_asking_is_given_back(monkeypatch: pytest.MonkeyPatch) -> None:
    (host,) = _names("host")

    async def check() -> int:
        await slots.ensure_limits({host: 1}, update=True)
        async with get_client() as client:
            increment, asked, granted = client.increment_concurrency_slots_with_lease, asyncio.Event(), asyncio.Event()

            async def slow(*args: object, **kwargs: object) -> httpx.Response:
                asked.set()
                await asyncio.sleep(0.5)  # the server grants the lease after the cycle is cancelled
                response = await increment(*args, **kwargs)
                granted.set()
                return response
            monkeypatch.setattr(client, "increment_concurrency_slots_with_lease", slow)
            taking = asyncio.create_task(slots.SlotLease.take(client, [host], 1))
            await asked.wait()
            taking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await taking
            await asyncio.wait_for(granted.wait(), 30)
            # Given back within seconds; kept, it would count for the lease's 60 s.
            for _ in range(150):
                if (await _in_use([host]))[host] == 0:
                    return 0
                await asyncio.sleep(0.2)
        return (await _in_use([host]))[host]

    assert asyncio.run(check()) == 0
