"""Scale-out (issue 16): waves of the generated estate on one and on three appliances, and one appliance holding
hundreds of VMs in flight.

    python bench/scale.py [--vms 60] [--estate 500] [--in-flight 300] [--cap-mb-s 1] [--written-mib 8]
                          [--speedup-limit 4] [--vms-per-run 50]

A lab of its own: the generated estate (vmshift.lab.estate, two vCenters, 4 hosts each) sized to what the phases
need, and a Prefect server on PostgreSQL; the appliances are `vmshift appliance` processes (vmshift.lab.appliances).

1. Speed-up. Each appliance has a bandwidth cap (VMSHIFT_BANDWIDTH_MB_S, shared by all the VMs it moves), so a
   wave's time is its bytes over the caps in use: the ideal speed-up from 1 to 3 appliances is exactly 3x. A wave
   of --vms VMs of vcenter-a, --written-mib written into each, dispatched to appliance-a1 alone; then a wave of
   the same shape (as many VMs, on the same hosts, as many bytes: a wave replicated once has nothing left to send)
   dispatched with appliance-a2 and -a3 online too. `speedup_3_vs_1` is the first wave's wall time over the second's.
   Each of these appliances has `--limit --speedup-limit`: a capped appliance moves no faster for holding more VMs,
   and the VMs it does not hold wait in the vCenter's queue for whichever appliance frees a slot first (holding up
   to all 60, the appliances split them at the start, 22 / 19 / 19, and the one with 22 set the pace: 2.45).
2. Overhead. A wave of --estate VMs of vcenter-b dispatched to one appliance (appliance-b1) of
   `--limit --in-flight`, --vms-per-run VMs in each `replicate-vms` run (docs/scale-out.md, "Batches"), against
   the same cycles of as many vcenter-a VMs in a plain loop (a thread pool as wide as the host limits let the wave
   read at once: hosts x --host-limit); `overhead_per_vm_s` as bench/orchestration.py defines it
   (bench/overhead.py). No cap: the estate's disks are sparse and empty, so the cycles are orchestration
   and vSphere/Storage calls, not bytes (and a run ends within seconds: this wave never holds many at once).
3. Memory. A wave of --in-flight VMs of vcenter-b, 8 MiB written into each (two page writes), on one appliance
   (appliance-b2) of `--limit --in-flight` whose cap (--in-flight-cap-mb-s, 0.005 MB/s) lets less than one VM's
   bytes through while it takes them all: every VM's run is taken and stays Running, as many disks reading as the
   host limits allow (4 hosts x 8) and the rest waiting for slots, as at 300 real VMs in flight. The RSS of
   appliance-b2's process tree (bench/processes.py, as bench/appliance_shapes.py adds it up) is sampled each
   second with the number of runs Running: `appliance_peak_rss_gib`, `in_flight_seen`. Once all are Running (or
   after 700 s) the phase ends by force: its runs Cancelled on the server, the appliance killed (their writes wait
   in the cap for hours; the bench does not measure 300 stops).

Throughout: `max_host_reads_seen`, the most replication-cycle task runs of one host open at one instant (across
every appliance), against `host_limit`; `lost` (a VM not protected), `duplicated` (a VM with more than one
completed cycle).

Fitting a 2-core machine: the real figures are 20 MB/s per appliance and disks of tens of GB; here every part (two
vcsims, Azurite, the ARM simulator, PostgreSQL, the Prefect server, four appliances, the wave) shares 2 cores, so
the cap is --cap-mb-s (1 MB/s by default) over --written-mib (8 MiB) a VM: a one-appliance window of
vms x written / cap (~8 min at the defaults), long enough that the appliances' polling and the dispatch are small
beside it, and low enough that 3 caps (3 MB/s) are still the bottleneck here. What this predicts for 3 real
appliances: the measured efficiency (speed-up / 3) applied to 3 x 20 MB/s, printed at the end; the appliances
scale by the cap as long as each has its own cap and the host limits leave room (8 reads a host). At the
issue's sizes the bench took ~32 min here before phase 3 (the 500-VM wave alone ~1.6 s a VM on one appliance), and
phase 3 adds ~10 min (the appliance takes ~0.7 runs a second): docs/scale-out.md, "At the issue's sizes".
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import contextvars
import csv
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterName,
)
from prefect.client.schemas.objects import StateType, WorkerStatus
from prefect.events.worker import EventsWorker
from prefect.exceptions import ObjectNotFound
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect.states import Cancelled

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.overhead import overhead_per_vm, plain_loop
from bench.processes import tree_rss
from flows.dispatch import APPLIANCE_TAG, POOL
from flows.migrate_wave import migrate_wave
from tasks.slots import ensure_limits
from vmshift.lab import launcher, process
from vmshift.lab.appliances import appliance_logs, max_overlap, start_appliance
from vmshift.lab.estate import PLAN_COLUMNS, VCENTERS, estate_plan, estate_spec, vm_name
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitKind, limit_name
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan

PROJECT = Path(__file__).resolve().parents[1]
VCENTER_A, VCENTER_B = VCENTERS
LOST_AFTER_S = 90
WAIT_S = 1800.0
IN_FLIGHT_WRITTEN = 8 << 20  # two page writes: the cap lets its first reservation go at once (a one-write VM may end)
IN_FLIGHT_WAIT_S = 700.0  # --in-flight-cap-mb-s x this is less than one VM's bytes: none ends before all are in
GIB = 2**30
TARGETS = {"speedup_3_vs_1": 2.5, "overhead_per_vm_s": 0.25, "appliance_peak_rss_gib": 8.0}
REAL_CAP_MB_S = 20.0  # the per-appliance cap, for the prediction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=60, help="VMs of each speed-up wave (the issue: at least 60)")
    parser.add_argument("--estate", type=int, default=500, help="VMs of the overhead wave (the issue: 500)")
    parser.add_argument("--in-flight", type=int, default=300, help="the overhead wave's appliance's --limit")
    parser.add_argument("--cap-mb-s", type=float, default=1.0, help="each appliance's bandwidth cap in the speed-up")
    parser.add_argument("--written-mib", type=int, default=8, help="bytes written into each speed-up VM's disk")
    parser.add_argument("--speedup-limit", type=int, default=4,
                        help="each speed-up appliance's --limit: VMs its cap serves at once, the rest queued")
    parser.add_argument("--host-limit", type=int, default=8)
    parser.add_argument("--vms-per-run", type=int, default=50,
                        help="the overhead wave's VMs in one replicate-vms run (1: a run of its own each)")
    parser.add_argument("--in-flight-cap-mb-s", type=float, default=0.005,
                        help="the in-flight phase's appliance cap: so low that no VM ends before all are taken")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vmshift-scale-") as tmp:
        figures = _run(args, Path(tmp))
    figures["bench_s"] = round(time.monotonic() - started, 1)
    _print(args, figures)


def _run(args: argparse.Namespace, folder: Path) -> dict:
    per_vcenter = 2 * args.vms + max(args.estate, args.in_flight)
    spec = estate_spec(2 * per_vcenter)
    hosts = {vm["name"]: vm["host"] for vcenter in spec["vcenters"] for vm in vcenter["vms"]}
    of_a = [vm_name(2 * i + 1) for i in range(per_vcenter)]  # the estate alternates vCenters: odd numbers are a's
    of_b = [vm_name(2 * i + 2) for i in range(per_vcenter)]
    one, three, looped = of_a[:args.vms], of_a[args.vms:2 * args.vms], of_a[2 * args.vms:2 * args.vms + args.estate]
    dispatched, held = of_b[:args.estate], of_b[:args.in_flight]
    waves = _waves(spec, folder)
    (folder / "spec.json").write_text(json.dumps(spec))
    lab_folder = folder / "lab"
    try:
        lab = launcher.up(lab_folder, folder / "spec.json", cache_dir=PROJECT / ".cache")
        os.environ.update(launcher.lab_env(lab))
        print(f"lab up: {2 * per_vcenter} VMs over {len(VCENTERS)} vCenters", flush=True)
        for vm in [*one, *three]:
            write_guest(lab, vm, 1 << 20, os.urandom(args.written_mib << 20), vcenter=VCENTER_A)
        with launcher.running_prefect_server(folder / "prefect") as server, \
                temporary_settings({PREFECT_API_URL: server["api_url"],
                                    PREFECT_API_AUTH_STRING: server["auth_string"]}), \
                _appliances(folder / "appliances", server) as appliances:
            figures = _phases(args, lab, server, appliances, waves, hosts, one, three, looped, dispatched, held)
            APILogWorker.drain_all(timeout=30)
            EventsWorker.drain_all(timeout=30)
        return figures
    finally:
        launcher.down(lab_folder)


def _phases(args, lab, server, appliances, waves, hosts, one, three, looped, dispatched, held) -> dict:
    asyncio.run(ensure_limits({limit_name(LimitKind.HOST_DISK_READS, host): args.host_limit
                               for host in set(hosts.values())}, update=True))
    vcenter_b = _vcenter_env(lab, VCENTER_B)
    appliances.start("appliance-a1", limit=args.speedup_limit, bandwidth_mb_s=args.cap_mb_s)
    appliances.start("appliance-b1", limit=args.in_flight, env=vcenter_b)
    appliances.wait_online()
    one_s, one_rows = _timed_wave(waves("scale-one", one))
    print(f"1 appliance: {len(one)} VMs in {one_s:.1f} s", flush=True)
    appliances.start("appliance-a2", limit=args.speedup_limit, bandwidth_mb_s=args.cap_mb_s)
    appliances.start("appliance-a3", limit=args.speedup_limit, bandwidth_mb_s=args.cap_mb_s)
    appliances.wait_online()
    three_s, three_rows = _timed_wave(waves("scale-three", three))
    print(f"3 appliances: {len(three)} VMs in {three_s:.1f} s", flush=True)
    concurrency = args.host_limit * len({hosts[vm] for vm in looped})
    plain_s = plain_loop(waves("scale-loop", looped), Appliance(), concurrency)
    print(f"plain loop: {len(looped)} VMs in {plain_s:.1f} s ({concurrency} at once)", flush=True)
    # The wave reads its VMs' facts from the vCenter of VMSHIFT_VCENTER_* (source_facts): the wave over vcenter-b's
    # VMs runs as it would beside that vCenter.
    os.environ.update(vcenter_b)
    dag_s, dag_rows = _timed_wave(waves("scale-estate", dispatched), args.vms_per_run)
    print(f"1 appliance of --limit {args.in_flight}: {len(dispatched)} VMs in {dag_s:.1f} s, "
          f"{args.vms_per_run} a run", flush=True)
    for vm in held:  # after the estate wave, which then had nothing of theirs to move
        write_guest(lab, vm, 1 << 20, os.urandom(IN_FLIGHT_WRITTEN), vcenter=VCENTER_B)
    peak = _held_in_flight(args, appliances, server, waves("scale-in-flight", held), vcenter_b)
    print(f"in flight on one appliance: {peak['running']} Running at most, {peak['rss'] / GIB:.2f} GiB", flush=True)
    rows = [*one_rows, *three_rows, *dag_rows]
    cycles = asyncio.run(_cycles({uuid.UUID(row["flow_run"]): row["vm"] for row in rows if row.get("flow_run")}))
    per_host: dict[str, list[tuple[float, float]]] = {}
    per_vm: dict[str, int] = {}
    for vm, start, end in cycles:
        per_host.setdefault(hosts[vm], []).append((start, end))
        per_vm[vm] = per_vm.get(vm, 0) + 1
    speedup = one_s / three_s
    return {
        "vms": args.vms, "estate": args.estate, "in_flight": args.in_flight, "cap_mb_s": args.cap_mb_s,
        "written_mib": args.written_mib, "speedup_limit": args.speedup_limit, "vms_per_run": args.vms_per_run,
        "one_appliance_s": round(one_s, 1), "three_appliances_s": round(three_s, 1),
        "ideal_one_s": round(args.vms * (args.written_mib << 20) / (args.cap_mb_s * 1e6), 1),
        "speedup_3_vs_1": round(speedup, 2),
        "plain_s": round(plain_s, 1), "dag_s": round(dag_s, 1), "plain_concurrency": concurrency,
        "overhead_per_vm_s": round(overhead_per_vm(dag_s, plain_s, len(dispatched)), 3),
        "appliance_peak_rss_gib": round(peak["rss"] / GIB, 2), "appliance_processes": peak["processes"],
        "in_flight_seen": peak["running"],
        "max_host_reads_seen": max((max_overlap(spans) for spans in per_host.values()), default=0),
        "host_limit": args.host_limit,
        "lost": sum(1 for row in rows if row["outcome"] != "protected"),
        "duplicated": sum(1 for count in per_vm.values() if count > 1),
        "predicted_3_real_mb_s": round(3 * REAL_CAP_MB_S * speedup / 3, 1),
    }


def _held_in_flight(args: argparse.Namespace, appliances: _Appliances, server: dict, wave: Wave,
                    vcenter_b: dict[str, str]) -> dict:
    """A wave of --in-flight VMs on one appliance whose cap lets less than one VM's bytes through while it takes
    them all, sampled until all are Running at once (or IN_FLIGHT_WAIT_S), then ended by force: its runs Cancelled
    on the server and the appliance killed. Their writes wait in the cap for hours; this phase measures memory, not
    300 stops."""
    process.interrupt(appliances.started.pop("appliance-b1"), grace_s=30)
    held_by = appliances.start("appliance-b2", limit=args.in_flight, bandwidth_mb_s=args.in_flight_cap_mb_s,
                               env=vcenter_b)
    appliances.wait_online()
    with _sampling(held_by.pid, server) as peak:
        # The ender talks to the server the wave does: Prefect's settings are a context variable, not a thread's.
        ender = threading.Thread(target=contextvars.copy_context().run, name="in-flight-ender", daemon=True,
                                 args=(_end_when_held, peak, len(wave.vms)))
        ender.start()
        _timed_wave(wave)
        ender.join(timeout=WAIT_S)
    process.interrupt(appliances.started.pop("appliance-b2"), grace_s=0)
    return peak


def _end_when_held(peak: dict, vms: int) -> None:
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    while peak["running"] < vms and time.monotonic() < deadline:
        time.sleep(5)
    time.sleep(5)  # one more sample with all of them in
    asyncio.run(_cancel_dispatched())


async def _cancel_dispatched() -> None:
    """Every dispatched run not final yet, Cancelled (forced: its appliance is killed next)."""
    unfinished = FlowRunFilter(tags=FlowRunFilterTags(all_=[APPLIANCE_TAG]), state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING])))
    async with get_client() as client:
        while runs := await client.read_flow_runs(flow_run_filter=unfinished, limit=200):
            for run in runs:
                await client.set_flow_run_state(run.id, Cancelled(message="bench: in-flight phase measured"),
                                                force=True)


def _waves(spec: dict, folder: Path):
    """`wave(name, vms)`: those VMs' rows of the estate's one-wave plan, validated as `vmshift plan` does."""
    rows = estate_plan(sum(len(vcenter["vms"]) for vcenter in spec["vcenters"]))
    plan_file = folder / "estate-waves.csv"
    with plan_file.open("w", newline="") as out:
        writer = csv.DictWriter(out, PLAN_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    plan = validate_plan(plan_file, now=datetime(2031, 1, 1, tzinfo=UTC)).raise_for_errors()
    by_name = {row.source_vm: row for row in plan.waves[0].vms}

    def wave(name: str, vms: list[str]) -> Wave:
        return dataclasses.replace(plan.waves[0], name=name,
                                   vms=tuple(dataclasses.replace(by_name[vm], wave=name) for vm in vms))
    return wave


def _timed_wave(wave: Wave, vms_per_run: int = 1) -> tuple[float, list[dict]]:
    started = time.monotonic()
    result = asyncio.run(migrate_wave(wave, Appliance(), dispatch=True, vms_per_run=vms_per_run))
    return time.monotonic() - started, result["vms"]


def _vcenter_env(lab: dict, name: str) -> dict[str, str]:
    """VMSHIFT_VCENTER_* of the vCenter `name`: what an appliance serving it has."""
    vcenter = lab["vcenters"][name]
    return {f"VMSHIFT_VCENTER_{field}": vcenter[field.lower()] for field in launcher.VCENTER_FIELDS} | \
        {"VMSHIFT_VCENTER_NAME": name}


class _Appliances:
    def __init__(self, folder: Path, server: dict) -> None:
        self.folder, self.server, self.started = folder, server, {}

    def start(self, name: str, limit: int, bandwidth_mb_s: float | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        self.started[name] = start_appliance(self.folder, self.server, name, limit=limit,
                                             lost_after_s=LOST_AFTER_S, bandwidth_mb_s=bandwidth_mb_s, env=env)
        return self.started[name]

    def wait_online(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not set(self.started) <= asyncio.run(_online_workers()):
            exited = [name for name, child in self.started.items() if child.poll() is not None]
            if exited or time.monotonic() > deadline:
                raise RuntimeError(f"appliances {exited or 'not online'}\n{appliance_logs(self.folder)}")
            time.sleep(1)


@contextlib.contextmanager
def _appliances(folder: Path, server: dict) -> Iterator[_Appliances]:
    appliances = _Appliances(folder, server)
    try:
        yield appliances
    finally:
        for child in appliances.started.values():
            process.interrupt(child, grace_s=30)


async def _online_workers() -> set[str]:
    async with get_client() as client:
        try:
            await client.read_work_pool(POOL)
        except ObjectNotFound:
            return set()
        return {worker.name for worker in await client.read_workers_for_work_pool(POOL)
                if worker.status == WorkerStatus.ONLINE}


@contextlib.contextmanager
def _sampling(pid: int, server: dict) -> Iterator[dict]:
    """The peak RSS of `pid`'s process tree and the most dispatched runs Running, sampled each second."""
    peak = {"rss": 0, "processes": 0, "running": 0}
    done = threading.Event()
    token = base64.b64encode(server["auth_string"].encode()).decode()
    body = {"flow_runs": {"state": {"type": {"any_": [StateType.RUNNING.value]}}, "tags": {"all_": [APPLIANCE_TAG]}}}

    def sample() -> None:
        with httpx.Client(base_url=server["api_url"], headers={"Authorization": f"Basic {token}"}) as http:
            while not done.wait(1.0):
                rss, processes = tree_rss(pid)
                if rss > peak["rss"]:
                    peak.update(rss=rss, processes=processes)
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    peak["running"] = max(peak["running"], int(http.post("/flow_runs/count", json=body).json()))
    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join(timeout=30)


async def _cycles(runs: dict[uuid.UUID, str]) -> list[tuple[str, float, float]]:
    """(vm, start, end) of each completed replication-cycle task run of these flow runs."""
    found: list[tuple[str, float, float]] = []
    ids = list(runs)
    async with get_client() as client:
        for first in range(0, len(ids), 100):
            offset = 0
            while True:
                page = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids[first:first + 100])),
                    task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="replication-cycle")),
                    limit=200, offset=offset)
                found += [(runs[task.flow_run_id], task.start_time.timestamp(), task.end_time.timestamp())
                          for task in page if task.state and task.state.type == StateType.COMPLETED]
                if len(page) < 200:
                    break
                offset += 200
    return found


def _print(args: argparse.Namespace, figures: dict) -> None:
    meets = {
        "speedup_3_vs_1": figures["speedup_3_vs_1"] >= TARGETS["speedup_3_vs_1"] and args.vms >= 60,
        "overhead_per_vm_s": figures["overhead_per_vm_s"] <= TARGETS["overhead_per_vm_s"] and args.estate >= 500,
        "appliance_peak_rss_gib": figures["appliance_peak_rss_gib"] <= TARGETS["appliance_peak_rss_gib"]
        and figures["in_flight_seen"] >= 300,
        "max_host_reads_seen": figures["max_host_reads_seen"] <= figures["host_limit"],
        "lost": figures["lost"] == 0, "duplicated": figures["duplicated"] == 0,
    }
    efficiency = figures["speedup_3_vs_1"] / 3
    print(f"\n{'figure':<26}{'measured':>10}  target")
    print(f"{'1 appliance (s)':<26}{figures['one_appliance_s']:>10}  {args.vms} VMs x {args.written_mib} MiB at "
          f"{args.cap_mb_s:g} MB/s: ideal {figures['ideal_one_s']} s")
    print(f"{'3 appliances (s)':<26}{figures['three_appliances_s']:>10}  ideal {figures['ideal_one_s'] / 3:.1f} s")
    print(f"{'speedup_3_vs_1':<26}{figures['speedup_3_vs_1']:>10}  >= 2.5 on >= 60 VMs (ideal 3.0)")
    print(f"{'plain loop (s)':<26}{figures['plain_s']:>10}  {args.estate} VMs, {figures['plain_concurrency']} at once")
    print(f"{'dispatched wave (s)':<26}{figures['dag_s']:>10}  {args.estate} VMs on one appliance, "
          f"{args.vms_per_run} in a run")
    print(f"{'overhead_per_vm_s':<26}{figures['overhead_per_vm_s']:>10}  <= 0.25 at 500 VMs")
    print(f"{'appliance_peak_rss_gib':<26}{figures['appliance_peak_rss_gib']:>10}  <= 8 with 300 in flight "
          f"(seen {figures['in_flight_seen']} Running, {figures['appliance_processes']} processes)")
    print(f"{'max_host_reads_seen':<26}{figures['max_host_reads_seen']:>10}  <= host_limit {figures['host_limit']}")
    print(f"{'lost / duplicated':<26}{figures['lost']:>6} / {figures['duplicated']}  0 / 0")
    print(f"\nFits 2 cores: caps of {args.cap_mb_s:g} MB/s over {args.written_mib} MiB a VM (a ~"
          f"{figures['ideal_one_s']:.0f} s window for one appliance) instead of 20 MB/s over tens of GB.")
    print(f"Predicts for 3 real appliances at {REAL_CAP_MB_S:g} MB/s each: {efficiency:.0%} of 3 caps, "
          f"~{figures['predicted_3_real_mb_s']} MB/s (~{figures['predicted_3_real_mb_s'] * 3.6:.0f} GB/h) "
          f"while the host limits leave room; plus {figures['overhead_per_vm_s']} s of orchestration a VM.")
    print(json.dumps(figures | {"meets_targets": meets}))


if __name__ == "__main__":
    main()
