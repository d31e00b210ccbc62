"""What an appliance costs per VM in flight, for each shape Prefect 3 offers to run a VM's run on it.

    python bench/appliance_shapes.py [--in-flight 300] [--process-in-flight 8,16] [--shapes ...]

Each shape takes N runs of `hold-vm` (bench/appliance_hold.py: a VM's run that imports what replicate-vm imports,
then waits) from a Prefect server on PostgreSQL of its own, and once all N are Running the bench adds up the RSS
of the appliance's processes (the worker and everything it started). The shapes:

- `process-worker`: `prefect worker start --type process`, one Python process per flow run;
- `serve`: `flow.serve(limit=N)`, Prefect's Runner, which also starts a process per flow run;
- `in-process`: a worker of ours (BaseWorker) that runs each flow run in its own event loop (`run_flow_async`);
- `task-worker`: `task.delay()` and `prefect.task_worker.serve`, background task runs in one process.

The process shapes are measured at a few N and extrapolated to --in-flight (RSS grows by one process per run);
the single-process shapes are measured at --in-flight itself. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect.workers.process import ProcessWorker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.appliance_hold import InProcessWorker, hold_vm_task
from bench.processes import tree_rss
from vmshift.lab import launcher
from vmshift.lab.process import interrupt

PROJECT = Path(__file__).resolve().parents[1]
# Run the flow where it is: a deployment with a `path` has its whole folder (.venv included) copied for each run.
RUN_IN_PROJECT = [{"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}]
HOLD = PROJECT / "bench" / "appliance_hold.py"
SHAPES = ("process-worker", "serve", "in-process", "task-worker")
PROCESS_SHAPES = ("process-worker", "serve")
START_TIMEOUT_S = 900.0
GIB = 2**30
TARGET_GIB_AT_300 = 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--process-in-flight", default="4,8", help="the N at which the process shapes are measured")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="vmshift-shapes-") as tmp, \
            launcher.running_prefect_server(Path(tmp)) as server, \
            temporary_settings({PREFECT_API_URL: server["api_url"], PREFECT_API_AUTH_STRING: server["auth_string"]}):
        env = {**os.environ, "PREFECT_API_URL": server["api_url"], "PREFECT_API_AUTH_STRING": server["auth_string"],
               "PREFECT_WORKER_QUERY_SECONDS": "2", "PYTHONPATH": str(PROJECT)}
        for shape in shapes:
            sizes = [int(n) for n in args.process_in_flight.split(",")] if shape in PROCESS_SHAPES \
                else [args.in_flight]
            results[shape] = []
            for n in sizes:
                results[shape].append(asyncio.run(_measure(shape, n, Path(tmp) / shape, env)))
                print(f"measured {shape}: {json.dumps(results[shape][-1])}", flush=True)
    _print(results, args.in_flight)


async def _measure(shape: str, n: int, folder: Path, env: dict[str, str]) -> dict:
    """N runs of hold-vm in flight on one appliance of this shape: how long until all run, and its RSS."""
    folder.mkdir(parents=True, exist_ok=True)
    release = folder / f"release-{n}"
    env = {**env, "VMSHIFT_BENCH_RELEASE": str(release)}
    pool = f"bench-{shape}-{n}"
    with running_appliance(shape, n, pool, env, folder / f"{shape}-{n}.log") as appliance:
        async with get_client() as client:
            deployment_id, submit = await submitter(client, shape, pool)
            started = time.monotonic()
            for i in range(n):
                await submit(f"vm-{i:04d}")
            await _until_running(client, deployment_id, n, appliance)
            running_s = time.monotonic() - started
            rss, processes = tree_rss(appliance.pid)
            release.touch()
            await _until_running(client, deployment_id, 0, appliance)
    return {"in_flight": n, "start_all_s": round(running_s, 1), "rss_bytes": rss, "processes": processes}


@contextlib.contextmanager
def running_appliance(shape: str, n: int, pool: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    if shape == "process-worker":
        argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
                "--limit", str(n)]
    elif shape == "in-process":
        argv = [sys.executable, str(HOLD), "in-process", "--pool", pool, "--limit", str(n)]
    else:
        argv = [sys.executable, str(HOLD), shape, "--limit", str(n)]
    with log.open("wb") as output:
        appliance = subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    try:
        yield appliance
    finally:
        interrupt(appliance, grace_s=60)


async def submitter(client, shape: str, pool: str):
    """How the bench hands one VM's run to the appliance of this shape."""
    if shape == "task-worker":
        async def delay(vm: str) -> None:
            hold_vm_task.delay(vm=vm)
        return None, delay
    if shape == "serve":
        deployment_id = await _served_deployment(client)
    else:
        flow_id = await client.create_flow_from_name("hold-vm")
        await client.create_work_pool(_work_pool(pool, shape))
        deployment_id = await client.create_deployment(
            flow_id=flow_id, name=pool, work_pool_name=pool, entrypoint="bench/appliance_hold.py:hold_vm",
            pull_steps=RUN_IN_PROJECT)

    async def create(vm: str) -> None:
        await client.create_flow_run_from_deployment(deployment_id, parameters={"vm": vm})
    return deployment_id, create


def _work_pool(name: str, shape: str) -> WorkPoolCreate:
    if shape == "process-worker":
        return WorkPoolCreate(name=name, type="process",
                              base_job_template=ProcessWorker.get_default_base_job_template())
    return WorkPoolCreate(name=name, type=InProcessWorker.type,
                          base_job_template=InProcessWorker.get_default_base_job_template())


async def _served_deployment(client):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            return (await client.read_deployment_by_name("hold-vm/serve")).id
        await asyncio.sleep(1)
    raise TimeoutError("flow.serve did not register its deployment")


async def _until_running(client, deployment_id, n: int, appliance: subprocess.Popen) -> None:
    """Wait until exactly `n` runs are Running (0: until none runs any more); deployment_id None: task runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    running_state = {"type": {"any_": [StateType.RUNNING.value]}}
    while time.monotonic() < deadline:
        if appliance.poll() is not None:
            raise RuntimeError(f"the appliance exited with {appliance.returncode}")
        if deployment_id is None:
            body = {"task_runs": {"state": running_state}}
            path = "/task_runs/count"
        else:
            body = {"flow_runs": {"state": running_state}, "deployments": {"id": {"any_": [str(deployment_id)]}}}
            path = "/flow_runs/count"
        try:
            running = (await client.request("POST", path, json=body)).json()
        except httpx.HTTPError:  # a busy server answers 500 now and then: ask again
            running = None
        if running == n:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"not {n} runs in flight after {START_TIMEOUT_S} s")


def _print(results: dict[str, list[dict]], in_flight: int) -> None:
    summary = {}
    print(f"{'shape':<16}{'in flight':>10}{'processes':>10}{'RSS GiB':>9}{'MiB/run':>9}{'all running (s)':>17}")
    for shape, points in results.items():
        for point in points:
            per_run = point["rss_bytes"] / point["in_flight"] / 2**20
            print(f"{shape:<16}{point['in_flight']:>10}{point['processes']:>10}{point['rss_bytes'] / GIB:>9.2f}"
                  f"{per_run:>9.1f}{point['start_all_s']:>17.1f}")
        summary[shape] = _at(points, in_flight)
    baseline = summary.get("in-process")
    print(f"\nRSS with {in_flight} VMs in flight on one appliance (target <= {TARGET_GIB_AT_300} GiB at 300):")
    for shape, gib in summary.items():
        ratio = f"  {gib / baseline:.1f}x in-process" if baseline else ""
        print(f"  {shape:<16}{gib:>7.2f} GiB{ratio}")
    print(json.dumps({"in_flight": in_flight, "rss_gib_at_in_flight": {s: round(g, 2) for s, g in summary.items()},
                      "points": results}))


def _at(points: list[dict], in_flight: int) -> float:
    """GiB at `in_flight`: measured there, or the line through the two points measured (a process per run)."""
    if len(points) == 1:
        return points[0]["rss_bytes"] / points[0]["in_flight"] * in_flight / GIB if points[0]["in_flight"] != \
            in_flight else points[0]["rss_bytes"] / GIB
    (n1, r1), (n2, r2) = [(p["in_flight"], p["rss_bytes"]) for p in points[:2]]
    per_run = (r2 - r1) / (n2 - n1)
    return (r1 + per_run * (in_flight - n1)) / GIB


if __name__ == "__main__":
    main()
