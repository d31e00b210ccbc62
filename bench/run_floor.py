"""What one flow run per VM costs Prefect at the least, on this machine: the floor under `overhead_per_vm_s`.

    python bench/run_floor.py [--runs 500] [--at-once 8]

Issue 16 asks for each VM's run to be a flow run of its own (shown under the wave, cancelled alone), and for
`overhead_per_vm_s` <= 0.25 at 500 VMs. This bench measures what such a run costs with nothing of vmshift in it:
--runs runs of `hold-vm` (bench/appliance_hold.py), released from the start so that each returns at once, created
--at-once at a time (as the wave dispatches) on a deployment of one in-process appliance (bench/appliance_hold.py's
InProcessWorker: Prefect's BaseWorker, each run in the worker's event loop, no process per run), against a
Prefect server on PostgreSQL of its own. It reports the wall time per run from the first creation to the last
run Completed, and the CPU seconds per run of each process tree (server, PostgreSQL, appliance, this bench's
creations) from /proc: on a machine of C cores the wall time per run cannot go below CPU per run / C, whatever
runs at once. Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.appliance_shapes import running_appliance, submitter
from bench.processes import descendants
from vmshift.lab import launcher

TARGET_OVERHEAD_S = 0.25  # issue 16's overhead_per_vm_s at 500 VMs
TICKS = os.sysconf("SC_CLK_TCK")
WAIT_S = 3600.0


def cpu_s(pid: int) -> float:
    """CPU seconds of `pid`'s tree: each live process's own, plus what its reaped children spent."""
    total = 0
    for member in descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICKS


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--at-once", type=int, default=8, help="runs created at once (flows/dispatch.py: 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmshift-floor-") as tmp, \
            launcher.running_prefect_server(Path(tmp)) as server, \
            temporary_settings({PREFECT_API_URL: server["api_url"], PREFECT_API_AUTH_STRING: server["auth_string"]}):
        release = Path(tmp) / "released"
        release.touch()
        env = {**os.environ, "PREFECT_API_URL": server["api_url"], "PREFECT_API_AUTH_STRING": server["auth_string"],
               "PREFECT_WORKER_QUERY_SECONDS": "2", "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
               "VMSHIFT_BENCH_RELEASE": str(release)}
        parts = {name: launcher.lab_part(Path(tmp), name).pid() for name in ("prefect", "postgres")}
        with running_appliance("in-process", args.runs, "bench-floor", env, Path(tmp) / "appliance.log") as appliance:
            figures = asyncio.run(_measure(args.runs, args.at_once, {**parts, "appliance": appliance.pid}))
    _print(figures)


async def _measure(runs: int, at_once: int, pids: dict[str, int | None]) -> dict:
    async with get_client() as client:
        deployment_id, submit = await submitter(client, "in-process", "bench-floor")
        await asyncio.sleep(5)  # the appliance's first poll and start-up are not a run's cost
        before = {name: cpu_s(pid) for name, pid in pids.items() if pid}
        before["creations"] = own_cpu_s()
        started = time.monotonic()
        gate = asyncio.Semaphore(at_once)

        async def create(i: int) -> None:
            async with gate:
                await submit(f"vm-{i:04d}")
        await asyncio.gather(*(create(i) for i in range(runs)))
        created_s = time.monotonic() - started
        await _until_completed(client, deployment_id, runs)
        wall_s = time.monotonic() - started
        after = {name: cpu_s(pid) for name, pid in pids.items() if pid}
        after["creations"] = own_cpu_s()
    cpu = {name: round((after[name] - before[name]) / runs, 3) for name in before}
    cores = os.cpu_count() or 1
    total = sum(cpu.values())
    return {"runs": runs, "at_once": at_once, "created_s": round(created_s, 1), "wall_s": round(wall_s, 1),
            "wall_per_run_s": round(wall_s / runs, 3), "cpu_per_run_s": cpu, "cpu_per_run_total_s": round(total, 3),
            "cores": cores, "floor_per_run_s": round(total / cores, 3), "target_overhead_s": TARGET_OVERHEAD_S}


async def _until_completed(client, deployment_id, runs: int) -> None:
    deadline = time.monotonic() + WAIT_S
    body = {"flow_runs": {"state": {"type": {"any_": [StateType.COMPLETED.value]}}},
            "deployments": {"id": {"any_": [str(deployment_id)]}}}
    while time.monotonic() < deadline:
        if (await client.request("POST", "/flow_runs/count", json=body)).json() >= runs:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"not {runs} runs Completed after {WAIT_S} s")


def _print(figures: dict) -> None:
    print(f"{figures['runs']} no-op flow runs, {figures['at_once']} created at once, one in-process appliance:")
    print(f"  {'all created after':<34}{figures['created_s']:>8} s")
    print(f"  {'all Completed after':<34}{figures['wall_s']:>8} s")
    print(f"  {'wall time per run':<34}{figures['wall_per_run_s']:>8} s")
    for name, seconds in figures["cpu_per_run_s"].items():
        print(f"  {'CPU per run, ' + name:<34}{seconds:>8} s")
    print(f"  {'CPU per run, all':<34}{figures['cpu_per_run_total_s']:>8} s")
    print(f"  {'floor on ' + str(figures['cores']) + ' cores (CPU / cores)':<34}{figures['floor_per_run_s']:>8} s"
          f"  (issue 16's overhead target: <= {TARGET_OVERHEAD_S} s a VM)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
