"""How long a lost appliance's runs take to be marked Crashed and to run again on another appliance.

    python bench/lost_appliance.py [--in-flight 20] [--heartbeat 30] [--within 90]

An in-process appliance (bench/appliance_hold.py) takes N `hold-vm` runs from its vCenter's work queue, with flow
run heartbeats every --heartbeat seconds (PREFECT_FLOWS_HEARTBEAT_FREQUENCY). The bench kills it with SIGKILL
and times: until every run is Crashed by the automation that expects a heartbeat --within seconds of the last
(Prefect's zombie detection), rescheduled by the automation that runs a Crashed VM run again, then Completed
on a second appliance of the same queue. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from prefect.automations import Automation
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.appliance_hold import InProcessWorker
from vmshift.lab import launcher

PROJECT = Path(__file__).resolve().parents[1]
# Run the flow where it is: a deployment with a `path` has its whole folder (.venv included) copied for each run.
RUN_IN_PROJECT = [{"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}]
HOLD = PROJECT / "bench" / "appliance_hold.py"
POOL, QUEUE, TAG = "bench-appliances", "vcenter-a.lab.local", "vmshift"
TIMEOUT_S = 900.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--heartbeat", type=int, default=30)
    parser.add_argument("--within", type=int, default=90)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmshift-lost-") as tmp, \
            launcher.running_prefect_server(Path(tmp)) as server, \
            temporary_settings({PREFECT_API_URL: server["api_url"], PREFECT_API_AUTH_STRING: server["auth_string"]}):
        env = {**os.environ, "PREFECT_API_URL": server["api_url"], "PREFECT_API_AUTH_STRING": server["auth_string"],
               "PREFECT_WORKER_QUERY_SECONDS": "2", "PYTHONPATH": str(PROJECT),
               "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(args.heartbeat),
               "VMSHIFT_BENCH_RELEASE": str(Path(tmp) / "release")}
        figures = asyncio.run(_lose_an_appliance(args.in_flight, args.within, env, Path(tmp)))
    figures |= {"in_flight": args.in_flight, "heartbeat_s": args.heartbeat, "within_s": args.within}
    for key, value in figures.items():
        print(f"{key:<28}{value}")
    print(json.dumps(figures))


async def _lose_an_appliance(n: int, within: int, env: dict[str, str], folder: Path) -> dict:
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(
            name=POOL, type=InProcessWorker.type, base_job_template=InProcessWorker.get_default_base_job_template()))
        deployment_id = await client.create_deployment(
            flow_id=await client.create_flow_from_name("hold-vm"), name="hold", work_pool_name=POOL,
            work_queue_name=QUEUE, entrypoint="bench/appliance_hold.py:hold_vm", tags=[TAG],
            pull_steps=RUN_IN_PROJECT)
        for automation in automations(within):
            await automation.acreate()
        first = _start_appliance("appliance-1", n, env, folder)
        runs = [(await client.create_flow_run_from_deployment(deployment_id, parameters={"vm": f"vm-{i:03d}"})).id
                for i in range(n)]
        await _until(client, deployment_id, lambda states: states.count(StateType.RUNNING) == n)
        await asyncio.sleep(5)  # every run has sent its first heartbeat
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        await _until(client, deployment_id, lambda states: states.count(StateType.SCHEDULED) == n)
        rescheduled_s = time.monotonic() - killed
        crashed_s = await _last_crash_after(client, runs, killed)
        (folder / "release").touch()
        second = _start_appliance("appliance-2", n, env, folder)
        try:
            await _until(client, deployment_id, lambda states: states.count(StateType.COMPLETED) == n)
        finally:
            os.killpg(second.pid, signal.SIGINT)
            second.wait(timeout=60)
        completed_s = time.monotonic() - killed
        completions = [sum(1 for state in await client.read_flow_run_states(run) if state.is_completed())
                       for run in runs]
    return {"crashed_after_kill_s": round(crashed_s, 1), "rescheduled_after_kill_s": round(rescheduled_s, 1),
            "completed_after_kill_s": round(completed_s, 1), "lost": n - sum(1 for c in completions if c >= 1),
            "duplicated": sum(1 for c in completions if c > 1)}


def automations(within: int) -> list[Automation]:
    """Crash a run whose heartbeats stop (Prefect's zombie detection), and run a crashed VM run again."""
    tagged = ResourceSpecification({"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"})
    crash = Automation(
        name="vmshift: crash runs without heartbeats",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}), match_related=tagged,
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
            within=timedelta(seconds=within)),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="no heartbeat: its appliance is lost")])
    rerun = Automation(
        name="vmshift: run a crashed VM run again",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}), match_related=tagged,
            for_each={"prefect.resource.id"}, posture=Posture.Reactive, threshold=1, within=timedelta(0)),
        actions=[ChangeFlowRunState(state=StateType.SCHEDULED, name="AwaitingRetry",
                                    message="its appliance was lost: another appliance of its vCenter runs it again")])
    return [crash, rerun]


def _start_appliance(name: str, limit: int, env: dict[str, str], folder: Path) -> subprocess.Popen:
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, str(HOLD), "in-process", "--pool", POOL, "--limit", str(limit)],
                                cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def _until(client: PrefectClient, deployment_id, done) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(),
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        if done([run.state.type for run in runs if run.state]):
            return
        await asyncio.sleep(1)
    raise TimeoutError("the runs did not reach the expected states in time")


async def _last_crash_after(client: PrefectClient, runs: list, killed: float) -> float:
    """Seconds from the kill to the last run's Crashed state, from the states' own timestamps."""
    lag = time.time() - time.monotonic()
    crashed = [state.timestamp.timestamp() for run in runs for state in await client.read_flow_run_states(run)
               if state.type == StateType.CRASHED]
    return max(crashed) - (killed + lag)


if __name__ == "__main__":
    main()
