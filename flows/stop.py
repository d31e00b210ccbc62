"""Stopping one VM of a running wave, from the UI's Cancel button on its `replicate-vm` run or through the API.

A VM's subflow runs in the wave's process, and Prefect cancels such a subflow only with its parent. So the
process watches the state of its VMs' runs (one query every few seconds for all of them): once a run is set to
Cancelling, its VM stops (waiting for slots, at once; copying, once its writes in flight are checkpointed)
and its run ends Cancelled while the other VMs go on. Its next cycle resumes from the checkpoints.

A stop that reaches a run outside its body (between the run's creation and its Running state, or once its body
returned) is one that no code of the flow sees: Prefect refuses a Cancelling run any state but Cancelled (its
Running, its result), and nothing moves it on. The VMs' flows end those runs with `stopped_outside_cycle`, their
`on_cancellation` hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence

from prefect import State
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.logging import get_logger
from prefect.states import Cancelled, Cancelling

from vmshift.migration import connections
from vmshift.state.lifecycle import Actor

REPLICATE_RUN = "replicate-"  # a VM's replication run is named with this prefix and the VM (flows/migrate_wave.py)
DELTA_RUN = "delta-"  # and its dispatched delta cycle's run with this one (flows/delta_sync.py)
POLL_S = 3.0
STOPPING = [StateType.CANCELLING, StateType.CANCELLED]
IN_FLIGHT = [StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
# The most runs the server answers a read with (PREFECT_API_DEFAULT_LIMIT), whatever its filter names.
RUNS_PER_READ = 200


class NothingToStop(RuntimeError):
    """No replication run of that VM is in flight."""


class StopWatch:
    """The runs of this event loop's VMs that can be stopped, and the one poll that asks the server about them."""

    def __init__(self) -> None:
        self.requests: dict[uuid.UUID, threading.Event] = {}
        self.poll: asyncio.Task | None = None

    def watch(self, run_id: uuid.UUID) -> threading.Event:
        """The event set once the run is asked to stop; the cycle's thread and the slot waits read it."""
        request = self.requests[run_id] = threading.Event()
        if self.poll is None or self.poll.done():
            self.poll = asyncio.create_task(self._poll(), name="vmshift-stop-watch")
        return request

    def forget(self, run_id: uuid.UUID) -> None:
        self.requests.pop(run_id, None)

    async def _poll(self) -> None:
        while self.requests:
            await asyncio.sleep(POLL_S)
            watched = list(self.requests)
            if not watched:
                return
            try:
                async with get_client() as client:
                    stopping = await runs_by_id(client, watched, STOPPING)
            except Exception as error:  # the server is busy or restarting: ask again at the next poll
                get_logger(__name__).debug("stop watch: asking the server failed (%s); asking again", error)
                continue
            for run in stopping:
                if (request := self.requests.get(run.id)) is not None:
                    request.set()


async def runs_by_id(client: PrefectClient, ids: Sequence[uuid.UUID], states: Sequence[StateType] = ()
                     ) -> list[FlowRun]:
    """The flow runs of `ids` (those in `states`, when given), however many: a read of more than RUNS_PER_READ ids
    answers the first RUNS_PER_READ only, and a wave of 500 VMs waited for ever on the 300 it never saw."""
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states))) if states else None
    found: list[FlowRun] = []
    for first in range(0, len(ids), RUNS_PER_READ):
        part = list(ids[first:first + RUNS_PER_READ])
        found += await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=part), state=state),
                                             limit=len(part))
    return found


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StopWatch] = weakref.WeakKeyDictionary()


def stop_watch() -> StopWatch:
    """The watch of the running event loop (each `asyncio.run` has its own)."""
    return _watches.setdefault(asyncio.get_running_loop(), StopWatch())


@contextlib.contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """The event set once this flow run is asked to stop (its Cancel button), watched while the block runs."""
    watch, run_id = stop_watch(), FlowRunContext.get().flow_run.id
    try:
        yield watch.watch(run_id)
    finally:
        watch.forget(run_id)


async def request_stop(vm: str) -> list[uuid.UUID]:
    """Ask the VM's `replicate-<vm>` runs (and dispatched `delta-<vm>` runs) in flight to stop, as the UI's Cancel
    button does; their ids."""
    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=[REPLICATE_RUN + vm, DELTA_RUN + vm]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=IN_FLIGHT))))
        if not runs:
            raise NothingToStop(f"no {REPLICATE_RUN}{vm} run is in flight: nothing to stop (`vmshift status --vm {vm}` "
                                "shows its replication)")
        for run in runs:
            await client.set_flow_run_state(run.id, Cancelling(message=f"stop of {vm} requested"))
    return [run.id for run in runs]


async def ended(state: State) -> State:
    """The state a VM's run ended in, when its engine returned it Cancelling (its hook ended it since)."""
    if not state.is_cancelling() or state.state_details.flow_run_id is None:
        return state
    async with get_client() as client:
        return (await client.read_flow_run(state.state_details.flow_run_id)).state or state


def stopped_outside_cycle_message(vm: str, began: bool) -> str:
    """What a VM whose stop reached its run outside its cycle says, in its wave's row, its state and its run."""
    resume = f"its next cycle (`vmshift replicate --vm {vm}` or the wave) resumes its replication from where it stood"
    if not began:
        return f"stopped on request before its replication cycle began: its run copied nothing of {vm}; {resume}"
    return (f"stopped on request while its run was outside its replication cycle: no cycle of {vm} runs, what one "
            f"did is kept and its history says what; {resume}")


async def stopped_outside_cycle(flow_name: str, run: FlowRun, vm: str, cache_account: str) -> None:
    """A VM's run that Prefect left Cancelling: its VM's state document says stopped, and the run ends Cancelled.

    Prefect refuses a Cancelling run any state but Cancelled: a stop that lands before its body began leaves it
    Cancelling with its body never run (its Running refused), one that lands once its body ended (its result
    refused) too. Either way no cycle of the VM runs any more."""
    message = stopped_outside_cycle_message(vm, began=run.start_time is not None)
    try:
        await asyncio.to_thread(connections.record_stop, vm, cache_account, Actor.here(flow_name, str(run.id)),
                                f"CycleStopped: {message}")
    finally:  # a run left Cancelling would look in flight for ever
        async with get_client() as client:
            await client.set_flow_run_state(run.id, Cancelled(message=message))
