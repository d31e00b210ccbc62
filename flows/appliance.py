"""An appliance: a Prefect worker of vmshift's own type that runs each VM's flow run in its own event loop.

docs/scale-out.md says why (measured: a process per flow run costs ~235 MiB, 300 VMs in flight would need
~66 GiB; 300 runs in one event loop hold 0.8 GiB). It polls the work queue of the vCenter it serves, in the
`vmshift-appliances` pool; a wave dispatches each VM's `replicate-vm` run there, and a delta-sync pass each due
VM's `delta-cycle` run (flows/dispatch.py), so any appliance of that vCenter takes it. It also polls its own
queue of that vCenter, where the runs of the VMs whose plan row names it go. Each run's flow engine sends its
heartbeats; two automations crash the runs of a lost appliance and schedule them again, and another appliance of
the vCenter resumes them (the runs of its own queue wait for it to come back).

    vmshift appliance [--limit 300]     # VMSHIFT_APPLIANCE_NAME, VMSHIFT_APPLIANCE_DIR, VMSHIFT_VCENTER_*
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import anyio.abc
from prefect.automations import Automation
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import WorkerFlowRunResponse
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError
from prefect.flow_engine import run_flow_async
from prefect.flows import Flow
from prefect.workers.base import BaseJobConfiguration, BaseWorker, BaseWorkerResult

from flows.delta_sync import delta_cycle
from flows.dispatch import APPLIANCE_TAG, POOL, appliance_queue, vcenter_queue
from flows.migrate_wave import replicate_vm, replicate_vms
from tasks.slots import threads_for_vms, writes_at_once
from vmshift.vsphere.connection import VCenterConfig

WORKER_TYPE = "vmshift-appliance"
DEFAULT_IN_FLIGHT = 300  # Azure Migrate's appliance replicates up to 300 VMs at once
# A run is lost once no heartbeat came for this long: three of PREFECT_FLOWS_HEARTBEAT_FREQUENCY's 30 s (its
# least), so that a busy appliance is never taken for a lost one (docs/scale-out.md, "A lost appliance").
DEFAULT_LOST_AFTER_S = 90
# Runs the worker submits at once. Its submissions share one client of 16 connections (Prefect's default), and
# Prefect submits every run it takes at once: 300 at a time queued for those connections past the client's pool
# timeout, and httpcore leaks a connection for each request that gives up while its connection is being opened
# (encode/httpcore#1093). Measured: all 16 leaked, 253 runs left Pending or Scheduled for good, the appliance idle
# (docs/scale-out.md, "An appliance's client"). Fewer at once than connections, no submission waits for one.
SUBMITS_AT_ONCE = 8
# Runs the worker takes from one poll of its queues. Prefect's worker takes all it has room for: the appliance that
# polls first after a wave's dispatch holds a share of its VMs that its bandwidth cap then sets the pace of
# (measured, bench/scale.py: 24 of 60 VMs on one of three appliances, a speed-up of 2.38 where 3 is the ideal).
# Taking a few at each poll, the appliances of a vCenter share its VMs by turns.
TAKEN_PER_POLL = SUBMITS_AT_ONCE
# API writes (slots, artifacts) in flight at once: its server is on PostgreSQL, where they need no queue of one
# (tasks/slots.py); bounded below the server's database pool (5 + 10 overflow by default).
WRITES_AT_ONCE = 12
# The flows whose runs are dispatched to the appliances, by flow name; each has a deployment of that name too.
FLOWS: dict[str, Flow] = {flow.name: flow for flow in (replicate_vm, replicate_vms, delta_cycle)}


class ApplianceResult(BaseWorkerResult):
    pass


class InProcessJob(BaseJobConfiguration):
    """A VM's run in the appliance's own event loop: it starts no process, so it has no environment to build."""

    # Prefect builds a process's environment from every one of its settings: ~0.09 s of CPU a run, in the event
    # loop (measured, docs/scale-out.md), for variables no process reads here.
    @classmethod
    def _base_environment(cls) -> dict[str, str]:
        return {}


class ApplianceWorker(BaseWorker):
    """Runs each flow run of its queues as a task of its own event loop; only `run` differs from Prefect's
    workers, which start a process per flow run."""

    type = WORKER_TYPE
    job_configuration = InProcessJob

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # By the server's flow id, one lookup per flow and not per run: the flow, and the same without its run-name
        # template (for a run the dispatch named already).
        self._flows: dict[uuid.UUID, tuple[Flow, Flow]] = {}
        self._submissions = anyio.Semaphore(SUBMITS_AT_ONCE)

    async def _get_scheduled_flow_runs(self) -> list[WorkerFlowRunResponse]:
        return (await super()._get_scheduled_flow_runs())[:TAKEN_PER_POLL]

    async def _submit_run(self, flow_run: FlowRun) -> None:
        # Each submission is a few API calls one after the other (the deployment, Pending, the labels, the
        # infrastructure id), up to `run` signalling that the run started: SUBMITS_AT_ONCE of them at a time.
        async with self._submissions:
            await super()._submit_run(flow_run)

    async def run(
        self, flow_run: FlowRun, configuration: BaseJobConfiguration,
        task_status: anyio.abc.TaskStatus[str] | None = None,
    ) -> ApplianceResult:
        if flow_run.flow_id not in self._flows:  # still in its submission: the worker's client is bounded
            flow = FLOWS[(await self.client.read_flow(flow_run.flow_id)).name]
            self._flows[flow_run.flow_id] = (flow, _nameless(flow))
        if task_status is not None:
            task_status.started(f"{os.getpid()}:{flow_run.id}")
        flow, nameless = self._flows[flow_run.flow_id]
        # The parameters came over the wire as JSON: the flow's own types again, whatever the flow's setting.
        parameters = flow.validate_parameters(flow_run.parameters)
        # A run the dispatch named already is not named again: the engine would, with a blocking API read in the
        # event loop and a write, for each run.
        named = isinstance(flow.flow_run_name, str) and flow_run.name == flow.flow_run_name.format(**parameters)
        state: Any = await run_flow_async(nameless if named else flow, flow_run=flow_run, parameters=parameters,
                                          return_type="state")
        return ApplianceResult(identifier=str(flow_run.id), status_code=1 if state.is_crashed() else 0)


def _nameless(flow: Flow) -> Flow:
    """The flow without its run-name template (flows/dispatch.py names each run it makes)."""
    nameless = flow.with_options()
    nameless.flow_run_name = None
    return nameless


def queues(name: str, vcenters: list[str]) -> list[str]:
    """What the appliance `name` polls: each of its vCenters' queue, and its own queue of each."""
    return [queue for vcenter in vcenters for queue in (vcenter_queue(vcenter), appliance_queue(name, vcenter))]


async def set_up(client: PrefectClient, name: str, vcenters: list[str], lost_after_s: int) -> None:
    """The pool, the appliance's queues, the deployments of the dispatched flows and the lost-appliance
    automations: what every appliance needs on the server, made by whichever starts first (each step accepts
    what exists)."""
    with contextlib.suppress(ObjectAlreadyExists):
        await client.create_work_pool(WorkPoolCreate(
            name=POOL, type=WORKER_TYPE, base_job_template=ApplianceWorker.get_default_base_job_template()))
    for queue in queues(name, vcenters):
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_work_queue(name=queue, work_pool_name=POOL)
    for flow in FLOWS.values():
        await _deploy(flow)
    for automation in lost_appliance_automations(lost_after_s):
        await _exactly_one(client, automation)


async def _exactly_one(client: PrefectClient, automation: Automation) -> None:
    """One automation of that name, with this appliance's `within`: appliances starting at the same moment each
    create one, and every copy would act on each lost run, so all but the first by id are deleted."""
    found = await client.read_automations_by_name(automation.name)
    if not found:
        await automation.acreate()
        found = await client.read_automations_by_name(automation.name)
    kept, *copies = sorted(found, key=lambda existing: str(existing.id))
    for copy in copies:
        try:
            await client.delete_automation(copy.id)
        except PrefectHTTPStatusError as error:  # another appliance deleted it first
            if error.response.status_code != HTTPStatus.NOT_FOUND:
                raise
    if _trigger_of(kept) != _trigger_of(automation):
        automation.id = kept.id  # another --lost-after, or an older vmshift's: the last appliance started decides
        await automation.aupdate()


def _trigger_of(automation: Automation) -> tuple:
    trigger = automation.trigger
    return getattr(trigger, "within", None), getattr(trigger, "match_related", None)


async def _deploy(flow: Flow) -> uuid.UUID:
    # No pull steps: the appliance runs the flow it imported, from its own installation.
    deployment = await flow.ato_deployment(name=flow.name, work_pool_name=POOL, tags=[APPLIANCE_TAG],
                                           description=f"A VM's {flow.name} run, by an appliance of its vCenter")
    deployment.entrypoint = f"{flow.fn.__module__}:{flow.fn.__name__}"
    return await deployment.aapply()


def lost_appliance_automations(lost_after_s: int) -> list[Automation]:
    """Crash a dispatched run whose heartbeats stop (the Prefect server has no zombie service of its own), and
    schedule a crashed one again: it goes back to its vCenter's queue and resumes from its checkpoints. They act
    on the dispatched runs only, `replicate-vms` runs included, not on a batch's VMs' runs: the wave crashes those
    when it sees their batch Crashed, and the batch's run again makes a new run for each (flows/dispatch.py,
    flows/migrate_wave.py)."""
    tagged = ResourceSpecification({"prefect.resource.role": "tag",
                                    "prefect.resource.id": f"prefect.tag.{APPLIANCE_TAG}"})
    deployed = ResourceSpecification({"prefect.resource.role": "deployment",
                                      "prefect.resource.id": "prefect.deployment.*"})
    runs = ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"})
    crash = Automation(
        name="vmshift: crash appliance runs without heartbeats",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=runs, match_related=tagged, for_each={"prefect.resource.id"}, posture=Posture.Proactive,
            threshold=1, within=timedelta(seconds=lost_after_s)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message=f"no heartbeat for {lost_after_s} s: its appliance is lost")])
    rerun = Automation(
        name="vmshift: run a crashed appliance run again",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"}, match=runs, match_related=[tagged, deployed],
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                                    message="its appliance was lost: another appliance of its vCenter runs it")])
    return [crash, rerun]


async def serve(name: str, limit: int = DEFAULT_IN_FLIGHT, lost_after_s: int = DEFAULT_LOST_AFTER_S) -> None:
    """Run the appliance until stopped: it takes up to `limit` VMs' runs of its vCenter at once."""
    vcenter = VCenterConfig.from_env().name  # the vCenter its cycles reach (connections.run_cycle)
    async with get_client() as client:
        await set_up(client, name, [vcenter], lost_after_s)
    worker = ApplianceWorker(work_pool_name=POOL, work_queues=queues(name, [vcenter]), name=name, limit=limit,
                             create_pool_if_not_found=False)
    writes_at_once(WRITES_AT_ONCE)
    threads_for_vms(limit)  # its runs share this event loop: a thread for each VM it takes
    await worker.start()
