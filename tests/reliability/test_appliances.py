"""Several appliances on one Prefect server (issue 16): a wave dispatched to three of them with a host limit they
hold together, the wave going on through a PostgreSQL restart, an appliance killed -9 in the middle of a wave
whose VMs another appliance resumes, a delta-sync pass whose VMs' cycles run on two appliances, and plan rows
naming their appliance. Every replica ends equal to its source byte for byte.

The appliances are `vmshift appliance` processes against a server of this module's own (its PostgreSQL is
restarted here); the lab's vCenter and storage are the session's. Small disks (8 MiB, 2 MiB written) and a
bandwidth cap keep the VMs in flight for seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from due_now import DUE_NOW
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    TaskRunFilter,
    TaskRunFilterName,
)
from prefect.client.schemas.objects import StateType, WorkerStatus
from prefect.concurrency.asyncio import concurrency
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker
from prefect.exceptions import ObjectNotFound
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect.states import Cancelling
from wave_runs import CACHE, lab_wave

from flows.appliance import lost_appliance_automations
from flows.delta_sync import delta_sync
from flows.dispatch import APPLIANCE_TAG, POOL, appliance_queue, appliances_known
from flows.migrate_wave import migrate_wave
from tasks.slots import SLOT_LEASE_S, ensure_limits
from vmshift.lab import launcher, postgres, process
from vmshift.lab.appliances import appliance_logs, max_overlap, start_appliance
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import DEFAULT_LIMITS, LimitKind, limit_name
from vmshift.plan.schema import Wave
from vmshift.replication.verify import verify_vm
from vmshift.state.store import StateStore
from vmshift.vsphere import snapshots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm

pytestmark = pytest.mark.lab

HOST = "esx-01.lab.local"
WRITTEN = 2 << 20  # bytes each VM's guest writes before the wave: what its cycle moves
LOST_AFTER_S = 60  # two heartbeats of 30 s (Prefect's least), the least `vmshift appliance` accepts
ACTING_LATENCY_S = 20  # from a bucket's end to the Crashed state: evaluation (5 s) and the action, under load
WAIT_S = 300.0


@pytest.fixture(scope="module")
def server(lab: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(folder, lab.json entry) of this module's Prefect server, the client settings in force around the tests."""
    folder = tmp_path_factory.mktemp("appliances")
    with launcher.running_prefect_server(folder) as entry, \
            temporary_settings({PREFECT_API_URL: entry["api_url"], PREFECT_API_AUTH_STRING: entry["auth_string"]}):
        yield folder, entry
        # This process's log and event senders are bound to this server: flush them and let the next tests'
        # flows make their own (task run states travel as events; a stale sender loses the next module's).
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


class Appliances:
    """`vmshift appliance` processes, each in its own process group (kill -9 takes all it runs)."""

    def __init__(self, folder: Path, entry: dict) -> None:
        self.folder, self.entry, self.started = folder, entry, {}

    def start(self, name: str, bandwidth_mb_s: float, limit: int = 20) -> subprocess.Popen:
        child = start_appliance(self.folder, self.entry, name, limit=limit, lost_after_s=LOST_AFTER_S,
                                bandwidth_mb_s=bandwidth_mb_s)
        self.started[name] = child
        return child

    def wait_online(self) -> None:
        """Until each started appliance polls its queue (its worker is online in the pool)."""
        def online() -> bool:
            exited = [name for name, child in self.started.items() if child.poll() is not None]
            assert not exited, f"{exited} exited\n{self.logs()}"
            return set(self.started) <= asyncio.run(_online_workers())
        until(online, "the appliances starting", self)

    def kill(self, name: str) -> None:
        child = self.started.pop(name)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    def stop_all(self) -> None:
        for name in list(self.started):
            process.interrupt(self.started.pop(name), grace_s=30)

    def logs(self) -> str:
        return appliance_logs(self.folder)


async def _online_workers() -> set[str]:
    async with get_client() as client:
        try:
            await client.read_work_pool(POOL)
        except ObjectNotFound:  # no appliance has made the pool yet
            return set()
        workers = await client.read_workers_for_work_pool(POOL)
    return {worker.name for worker in workers if worker.status == WorkerStatus.ONLINE}


@pytest.fixture
def appliances(server: tuple[Path, dict]) -> Iterator[Appliances]:
    started = Appliances(*server)
    try:
        yield started
    finally:
        started.stop_all()


def wave_running(name: str, vms: list[str], entry: dict, wave: Wave | None = None, vms_per_run: int = 1) -> Future:
    """The wave (the lab's, or `wave`), dispatched, in a daemon thread of its own."""
    return dispatching(lambda: migrate_wave(wave or lab_wave(name, vms), Appliance(), dispatch=True,
                                            vms_per_run=vms_per_run), entry)


def delta_pass_running(vms: list[str], entry: dict) -> Future:
    """A delta-sync pass over `vms`, each due at once, its cycles dispatched, in a daemon thread of its own."""
    return dispatching(lambda: delta_sync([CACHE], Appliance(), **DUE_NOW, vms=vms, dispatch=True),
                       entry)


def dispatching(flow: Callable[[], Coroutine], entry: dict) -> Future:
    """The flow's result, run in a daemon thread (it reads its VMs' runs until all are final; a failing test
    must not wait for it)."""
    done: Future = Future()

    def run() -> None:
        try:
            with temporary_settings({PREFECT_API_URL: entry["api_url"],
                                     PREFECT_API_AUTH_STRING: entry["auth_string"]}):
                done.set_result(asyncio.run(flow()))
        except BaseException as error:
            done.set_exception(error)
    threading.Thread(target=run, name="dispatching", daemon=True).start()
    return done


def guests_write(lab: dict, vms: list[str], length: int = WRITTEN, value: int = 0) -> None:
    for index, vm in enumerate(vms):
        write_guest(lab, vm, 1 << 20, bytes([value + index + 1]) * length)


def until(condition: Callable[[], bool], what: str, appliances: Appliances) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {WAIT_S:.0f} s\n{appliances.logs()}"
        time.sleep(1)


def runs_of(result: dict) -> dict[str, uuid.UUID]:
    return {row["vm"]: uuid.UUID(row["flow_run"]) for row in result["vms"]}


async def _states(names: list[str]) -> dict[str, StateType]:
    async with get_client() as client:
        runs = await client.read_flow_runs()
    return {run.name.removeprefix("replicate-"): run.state.type for run in runs
            if run.name.removeprefix("replicate-") in names and run.state}


def run_states(names: list[str]) -> dict[str, StateType]:
    """The latest `replicate-<vm>` run state of each VM named."""
    return asyncio.run(_states(names))


def assert_replicated_whole_and_clean(vms: list[str], cycles: int = 1) -> None:
    """No vmshift snapshot left in vCenter, `cycles` finished cycles each, and every replica equal to its source."""
    session = connect(VCenterConfig.from_env())
    store = StateStore.for_account(CACHE)
    for vm in vms:
        assert snapshots.find_snapshots(find_vm(session, vm), OWN_SNAPSHOT_PREFIX) == [], vm
        state = store.load(vm).state
        assert (state.cycles, state.in_progress, state.error) == (cycles, None, None), (vm, state)
        assert verify_vm(vm, session=session)["equal"] is True, vm


def test_three_appliances_share_a_wave_and_never_read_more_disks_of_a_host_at_once_than_its_limit(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i:02d}" for i in range(1, 7)]  # all on esx-01
    guests_write(lab, vms)
    host_limit = 2
    asyncio.run(ensure_limits({limit_name(LimitKind.HOST_DISK_READS, HOST): host_limit}, update=True))
    for name in ("appliance-a", "appliance-b", "appliance-c"):
        # Two VMs at most each: the first to poll cannot take the whole wave, and without the server's host
        # limit the three could read 6 disks of the host at once. ~2 s a VM, so that they overlap.
        appliances.start(name, bandwidth_mb_s=1.0, limit=2)
    appliances.wait_online()
    # Started at the same moment, they leave one of each lost-appliance automation (copies would act twice).
    assert asyncio.run(_automation_counts()) == [1, 1]

    result = wave_running("scale-three", vms, server[1]).result(timeout=WAIT_S)

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == dict.fromkeys(vms, "protected"), \
        (result, appliances.logs())
    runs = runs_of(result)
    # Task run states reach the server as events, recorded a moment later.
    until(lambda: len(asyncio.run(_cycles_and_appliances(list(runs.values())))[0]) >= len(vms),
          "the cycles' task runs recorded", appliances)
    cycles, ran_by = asyncio.run(_cycles_and_appliances(list(runs.values())))
    assert len(cycles) == len(vms)  # one cycle each: none ran twice
    assert max_overlap(cycles) == host_limit, cycles  # reached, never passed, across three processes
    assert len(set(ran_by.values())) >= 2, ran_by  # the appliances shared the wave
    assert_replicated_whole_and_clean(vms)


async def _automation_counts() -> list[int]:
    async with get_client() as client:
        return [len(await client.read_automations_by_name(automation.name))
                for automation in lost_appliance_automations(LOST_AFTER_S)]


async def _cycles_and_appliances(runs: list[uuid.UUID]) -> tuple[list[tuple[float, float]], dict[uuid.UUID, str]]:
    """The replication-cycle task runs' (start, end) and which appliance process ran each VM's run."""
    async with get_client() as client:
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=runs)),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="replication-cycle")))
        flow_runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=runs)))
    cycles = [(task.start_time.timestamp(), task.end_time.timestamp()) for task in tasks
              if task.state and task.state.type == StateType.COMPLETED]
    return cycles, {run.id: (run.infrastructure_pid or "").partition(":")[0] for run in flow_runs}


def test_a_wave_completes_through_a_postgresql_restart(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i:02d}" for i in range(7, 10)]
    guests_write(lab, vms, 4 << 20)
    appliances.start("appliance-pg", bandwidth_mb_s=1.0)  # 12 MiB at 1 MB/s: ~12 s in flight
    appliances.wait_online()
    folder = server[0]

    wave = wave_running("scale-postgres", vms, server[1])
    until(lambda: list(run_states(vms).values()).count(StateType.RUNNING) >= 1, "a VM's run starting", appliances)
    part = launcher.lab_part(folder, "postgres")
    process.stop(part)
    time.sleep(3)  # the server and the appliance meet a database that is down
    postgres.start_postgres(folder, part)
    result = wave.result(timeout=WAIT_S)

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == dict.fromkeys(vms, "protected"), \
        (result, appliances.logs())
    # Through the restart, not around it: no run lost its final state and waited for the lost-appliance rerun.
    histories = asyncio.run(_histories(list(runs_of(result).values())))
    assert all(StateType.CRASHED not in history for history in histories), histories
    assert_replicated_whole_and_clean(vms)


async def _histories(runs: list[uuid.UUID]) -> list[list[StateType]]:
    async with get_client() as client:
        return [[state.type for state in await client.read_flow_run_states(run)] for run in runs]


def test_a_lost_appliances_vms_are_crashed_rerun_on_another_and_end_whole_none_lost_or_twice(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i:02d}" for i in range(10, 14)]
    guests_write(lab, vms, 6 << 20)
    appliances.start("appliance-lost", bandwidth_mb_s=0.25)  # 24 MiB at 0.25 MB/s: in flight for over a minute
    appliances.wait_online()

    wave = wave_running("scale-lost", vms, server[1])
    until(lambda: list(run_states(vms).values()).count(StateType.RUNNING) == len(vms), "every VM's run starting",
          appliances)
    time.sleep(2)  # some bytes moved (a run's first heartbeat goes as it starts)
    appliances.kill("appliance-lost")
    killed = time.time()
    appliances.start("appliance-spare", bandwidth_mb_s=50.0)
    result = wave.result(timeout=WAIT_S)

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == dict.fromkeys(vms, "protected"), \
        (result, appliances.logs())
    crashed_after, done_before = asyncio.run(_crash_delays(list(runs_of(result).values()), killed))
    # Each run in flight at the kill Crashed once, then ran again and Completed once (one that finished before
    # the kill, its appliance still alive, did not).
    assert crashed_after and len(crashed_after) == len(vms) - done_before, (crashed_after, done_before)
    # The bound of docs/scale-out.md ("A lost appliance"): `within`, one 5 s evaluation, and the server's own
    # latency in acting, seen up to 14.6 s with the server under this suite's load.
    assert all(0 < delay <= LOST_AFTER_S + ACTING_LATENCY_S for delay in crashed_after), crashed_after
    assert_replicated_whole_and_clean(vms)


async def _crash_delays(runs: list[uuid.UUID], killed: float) -> tuple[list[float], int]:
    """Seconds from the kill to each run's Crashed state, and how many runs completed before the kill; asserts
    each run completed exactly once."""
    delays, done_before = [], 0
    async with get_client() as client:
        for run in runs:
            states = await client.read_flow_run_states(run)
            completed = [state.timestamp.timestamp() for state in states if state.type == StateType.COMPLETED]
            assert len(completed) == 1, states
            done_before += completed[0] < killed
            delays += [state.timestamp.timestamp() - killed for state in states if state.type == StateType.CRASHED]
    return delays, done_before


def test_a_batched_waves_vms_are_subflows_and_a_lost_appliances_batches_rerun_only_their_unfinished_vms(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i}" for i in range(20, 26)]
    for index, vm in enumerate(vms):  # 1 to 6 MiB, 21 MiB at 0.5 MB/s: they end one by one over ~45 s
        guests_write(lab, [vm], (index + 1) << 20)
    appliances.start("appliance-batch-lost", bandwidth_mb_s=0.5)
    appliances.wait_online()

    wave = wave_running("scale-batched", vms, server[1], vms_per_run=3)
    until(lambda: StateType.COMPLETED in run_states(vms).values(), "a VM's run completing", appliances)
    appliances.kill("appliance-batch-lost")
    appliances.start("appliance-batch-spare", bandwidth_mb_s=50.0)
    result = wave.result(timeout=WAIT_S)

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == dict.fromkeys(vms, "protected"), \
        (result, appliances.logs())
    runs = asyncio.run(_vm_runs_and_batches(vms))
    assert len({batch for vm_runs in runs.values() for _, _, batch, _ in vm_runs}) == 2, runs  # 6 VMs, 3 a run
    # Each VM's outcome is its own run's, a subflow of a batch that is a subflow of the wave's run.
    assert len({wave_run for vm_runs in runs.values() for _, _, _, wave_run in vm_runs}) == 1, runs
    assert {row["vm"]: uuid.UUID(row["flow_run"]) for row in result["vms"]} == \
        {vm: vm_runs[-1][0] for vm, vm_runs in runs.items()}
    # A VM whose run completed before the kill ran once; each other VM's run was Crashed with its appliance, and
    # its batch, run again on the spare, made it a new run that completed: none completed twice.
    histories = {vm: [states for _, states, _, _ in vm_runs] for vm, vm_runs in runs.items()}
    once = [vm for vm, runs_of_vm in histories.items() if len(runs_of_vm) == 1]
    assert once and len(once) < len(vms), histories
    for vm in once:
        assert histories[vm] == [[StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]], (vm, histories[vm])
    for vm in set(vms) - set(once):
        first, again = histories[vm]
        assert first[-1] == StateType.CRASHED and StateType.COMPLETED not in first, (vm, histories[vm])
        assert again[-1] == StateType.COMPLETED, (vm, histories[vm])
    assert_replicated_whole_and_clean(vms)


async def _vm_runs_and_batches(vms: list[str]) -> dict[str, list[tuple[uuid.UUID, list[StateType], uuid.UUID,
                                                                        uuid.UUID]]]:
    """Each VM's `replicate-<vm>` runs, oldest first: (id, its states, its batch run, the batch's parent run)."""
    found: dict[str, list] = {}
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=[f"replicate-{vm}" for vm in vms])))
        for run in sorted(runs, key=lambda run: run.created):
            batch = await client.read_flow_run((await client.read_task_run(run.parent_task_run_id)).flow_run_id)
            wave = (await client.read_task_run(batch.parent_task_run_id)).flow_run_id
            states = [state.type for state in await client.read_flow_run_states(run.id)]
            found.setdefault(run.name.removeprefix("replicate-"), []).append((run.id, states, batch.id, wave))
    return found


def test_a_batched_vms_cancel_button_stops_it_alone_and_its_batchs_stops_all_of_its_vms(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i}" for i in range(26, 30)]  # on esx-01 and esx-02, by turns
    guests_write(lab, vms)
    hosts = [limit_name(LimitKind.HOST_DISK_READS, host) for host in (HOST, "esx-02.lab.local")]
    asyncio.run(ensure_limits(dict.fromkeys(hosts, 1), update=True))
    appliances.start("appliance-batch-stop", bandwidth_mb_s=50.0)
    appliances.wait_online()

    # Each host's one read slot held here: every VM's run starts and waits for its slot, where a stop reaches it
    # before it copies a byte, whichever VM the stop is for.
    with slots_held(hosts):
        wave = wave_running("scale-batch-stop", vms, server[1], vms_per_run=2)
        until(lambda: list(run_states(vms).values()).count(StateType.RUNNING) == len(vms),
              "every VM's run starting", appliances)
        runs = asyncio.run(_vm_runs_and_batches(vms))
        alone = vms[0]
        (alone_run, _, alone_batch, _), = runs[alone]
        other_batch = next(batch for vm_runs in runs.values() for _, _, batch, _ in vm_runs if batch != alone_batch)
        asyncio.run(_cancel([alone_run, other_batch]))
        batch_of = {vm: vm_runs[0][2] for vm, vm_runs in runs.items()}
        stopped = [vm for vm in vms if vm == alone or batch_of[vm] == other_batch]
        until(lambda: [run_states(stopped)[vm] for vm in stopped] == [StateType.CANCELLED] * len(stopped),
              "the stopped VMs' runs ending Cancelled", appliances)
    result = wave.result(timeout=WAIT_S)
    asyncio.run(ensure_limits(dict.fromkeys(hosts, DEFAULT_LIMITS[LimitKind.HOST_DISK_READS]), update=True))

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == {
        vm: "stopped" if vm in stopped else "protected" for vm in vms}, (result, appliances.logs())
    assert len(stopped) == 3
    assert asyncio.run(_final_states([alone_batch, other_batch])) == [StateType.COMPLETED, StateType.CANCELLED]
    assert_replicated_whole_and_clean([vm for vm in vms if vm not in stopped])
    # Neither the VMs' runs nor their task runs carry the appliance tag: the server evaluates the lost-appliance
    # automations on each event of a tagged run, and each tag of a task run is a tag-limit request to it; the
    # batch's run alone does. Task runs reach the server as events, after the run's own end: wait for the VM's
    # cycle.
    (protected,) = [vm for vm in vms if vm not in stopped]
    until(lambda: len(asyncio.run(_tags_of(runs[protected][0][0]))[1]) >= 1, "the VM's task run recorded",
          appliances)
    run_tags, task_tags = asyncio.run(_tags_of(runs[protected][0][0]))
    assert APPLIANCE_TAG not in run_tags, run_tags
    assert not any(APPLIANCE_TAG in tags for tags in task_tags), task_tags
    assert APPLIANCE_TAG in asyncio.run(_tags_of(alone_batch))[0]
    # Nothing watches the VMs' runs' heartbeats, and they send none; the batch's runs do (one as each starts).
    assert asyncio.run(_heartbeats_of([alone_batch, other_batch])) == {alone_batch, other_batch}
    assert asyncio.run(_heartbeats_of([vm_runs[0][0] for vm_runs in runs.values()])) == set()


async def _heartbeats_of(runs: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `runs` sent a heartbeat."""
    async with get_client() as client:
        page = await client.read_events(filter=EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run}" for run in runs])), limit=50)
    return {uuid.UUID(event.resource.id.removeprefix("prefect.flow-run.")) for event in page.events}


async def _tags_of(run: uuid.UUID) -> tuple[list[str], list[list[str]]]:
    async with get_client() as client:
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run])))
        return (await client.read_flow_run(run)).tags, [task.tags for task in tasks]


@contextlib.contextmanager
def slots_held(names: list[str]) -> Iterator[None]:
    """One slot of each global limit named, held by this test until the block ends."""
    taken, release = threading.Event(), threading.Event()

    async def hold() -> None:
        async with concurrency(names, occupy=1, strict=True, lease_duration=SLOT_LEASE_S):
            taken.set()
            await asyncio.to_thread(release.wait)
    holder = threading.Thread(target=contextvars.copy_context().run, args=(asyncio.run, hold()), daemon=True)
    holder.start()
    assert taken.wait(60), "the test could not take its slots"
    try:
        yield
    finally:
        release.set()
        holder.join(60)


async def _cancel(runs: list[uuid.UUID]) -> None:
    async with get_client() as client:
        for run in runs:
            await client.set_flow_run_state(run, Cancelling(message="test: stop requested"))


async def _final_states(runs: list[uuid.UUID]) -> list[StateType]:
    async with get_client() as client:
        return [(await client.read_flow_run(run)).state.type for run in runs]


def test_a_delta_sync_pass_runs_each_due_vms_cycle_as_its_own_run_on_two_appliances_within_the_host_limits(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = [f"scale-{i}" for i in range(14, 18)]  # two on esx-01, two on esx-02
    hosts = {limit_name(LimitKind.HOST_DISK_READS, host): 1 for host in (HOST, "esx-02.lab.local")}
    guests_write(lab, vms)
    for name in ("appliance-d1", "appliance-d2"):
        appliances.start(name, bandwidth_mb_s=1.0, limit=2)  # four cycles at once need both appliances
    appliances.wait_online()
    replicated = wave_running("scale-delta", vms, server[1]).result(timeout=WAIT_S)
    assert {row["vm"]: row["outcome"] for row in replicated["vms"]} == dict.fromkeys(vms, "protected"), \
        (replicated, appliances.logs())
    guests_write(lab, vms, 3 << 20, value=10)  # what the delta cycles move: ~3 s each at 1 MB/s
    asyncio.run(ensure_limits(hosts, update=True))
    try:
        synced = delta_pass_running(vms, server[1]).result(timeout=WAIT_S)
    finally:
        asyncio.run(ensure_limits(dict.fromkeys(hosts, DEFAULT_LIMITS[LimitKind.HOST_DISK_READS]), update=True))

    assert sorted(synced["due"]) == vms
    assert {row["vm"]: (row["outcome"], row["kind"], row["cycle"]) for row in synced["vms"]} == \
        dict.fromkeys(vms, ("protected", "delta", 2)), (synced, appliances.logs())
    assert all(row["changed_bytes"] >= 3 << 20 for row in synced["vms"]), synced
    runs = runs_of(synced)
    until(lambda: len(asyncio.run(_cycles_and_appliances(list(runs.values())))[0]) >= len(vms),
          "the cycles' task runs recorded", appliances)
    cycles, ran_by = asyncio.run(_cycles_and_appliances(list(runs.values())))
    assert len(cycles) == len(vms)
    assert len(set(ran_by.values())) == 2, ran_by  # the pass's cycles spread over both appliances
    by_host = asyncio.run(_cycles_by_host(runs))
    assert all(max_overlap(spans) == 1 for spans in by_host.values()), by_host  # one host's reads at a time
    # Each cycle is a `delta-<vm>` run of its own, shown under the pass's run (its parent task run is the pass's).
    parents = asyncio.run(_names_and_parents(list(runs.values())))
    assert set(parents) == {f"delta-{vm}" for vm in vms}, parents
    assert len(set(parents.values())) == 1 and next(iter(parents.values()))[1] == "delta-sync", parents
    assert_replicated_whole_and_clean(vms, cycles=2)


async def _names_and_parents(runs: list[uuid.UUID]) -> dict[str, tuple[uuid.UUID, str]]:
    """Each run's name, with the flow run its parent task run belongs to and that run's flow."""
    parents = {}
    async with get_client() as client:
        for run in await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=runs))):
            parent = await client.read_flow_run((await client.read_task_run(run.parent_task_run_id)).flow_run_id)
            parents[run.name] = (parent.id, (await client.read_flow(parent.flow_id)).name)
    return parents


async def _cycles_by_host(runs: dict[str, uuid.UUID]) -> dict[str, list[tuple[float, float]]]:
    """The replication-cycle task runs' (start, end) of each host's VMs."""
    session = connect(VCenterConfig.from_env())
    spans: dict[str, list[tuple[float, float]]] = {}
    for vm, run in runs.items():
        cycles, _ = await _cycles_and_appliances([run])
        spans.setdefault(find_vm(session, vm).runtime.host.name, []).extend(cycles)
    return spans


def test_plan_rows_naming_an_appliance_have_their_replication_and_delta_cycles_run_on_it_alone(
        lab: dict, server: tuple[Path, dict], appliances: Appliances) -> None:
    vms = ["scale-18", "scale-19"]
    guests_write(lab, vms)
    for name in ("appliance-p1", "appliance-p2"):
        appliances.start(name, bandwidth_mb_s=2.0)  # either could take all of them: only the plan says which
    appliances.wait_online()
    vcenter = VCenterConfig.from_env().name
    assert asyncio.run(appliances_known())["appliance-p2"] == {vcenter}
    lab_rows = lab_wave("scale-pinned", [*vms, "scale-13"])
    wave = dataclasses.replace(lab_rows, vms=tuple(
        dataclasses.replace(vm, row=row, appliance="appliance-p2" if vm.source_vm in vms else "appliance-nowhere")
        for row, vm in enumerate(lab_rows.vms, start=2)))

    replicated = wave_running("scale-pinned", vms, server[1], wave).result(timeout=WAIT_S)

    outcomes = {row["vm"]: row for row in replicated["vms"]}
    assert {vm: outcomes[vm]["outcome"] for vm in vms} == dict.fromkeys(vms, "protected"), \
        (replicated, appliances.logs())
    # A row naming an appliance that does not serve its vCenter is not dispatched; its row says why.
    refused = outcomes["scale-13"]
    assert refused["outcome"] == "failed" and "flow_run" not in refused, refused
    assert all(part in refused["error"] for part in ("row 4", "scale-13", "'appliance-nowhere'", vcenter)), refused
    p2 = str(appliances.started["appliance-p2"].pid)
    assert asyncio.run(_queues_and_appliances(list(runs_of(
        {"vms": [outcomes[vm] for vm in vms]}).values()))) == {(appliance_queue("appliance-p2", vcenter), p2)}

    guests_write(lab, vms, 1 << 20, value=20)
    synced = delta_pass_running(vms, server[1]).result(timeout=WAIT_S)

    assert {row["vm"]: (row["outcome"], row["kind"]) for row in synced["vms"]} == \
        dict.fromkeys(vms, ("protected", "delta")), (synced, appliances.logs())
    assert asyncio.run(_queues_and_appliances(list(runs_of(synced).values()))) == \
        {(appliance_queue("appliance-p2", vcenter), p2)}
    assert_replicated_whole_and_clean(vms, cycles=2)


async def _queues_and_appliances(runs: list[uuid.UUID]) -> set[tuple[str, str]]:
    """The (work queue, appliance process) of each run."""
    async with get_client() as client:
        found = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=runs)))
    assert len(found) == len(runs), found
    return {(run.work_queue_name, (run.infrastructure_pid or "").partition(":")[0]) for run in found}
