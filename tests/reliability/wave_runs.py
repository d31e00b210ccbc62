"""A wave step run in a child process that a test can kill -9, and what the tests check after a fault.

As a script: `python wave_runs.py STEP VM[,VM...] [PARAMS_JSON [open|closed]]` runs one flow (replicate, delta,
test, cleanup, cutover) of a wave made of those lab VMs, its cutover window open now (or closed since an hour),
against the Prefect server in PREFECT_API_URL, and prints its result as the last line of JSON. The flow code is
the product's; only the wave is made up here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from due_now import DUE_NOW

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PLAN = PROJECT_ROOT / "examples" / "waves.csv"
CACHE = "vmshiftcache01"
TARGET_GROUP = "rg-target"
STEP_TIMEOUT_S = 300.0


class StepFailed(AssertionError):
    """A wave step's child process ended without a result; the message quotes its output."""


def lab_wave(name: str, vms: list[str], window_open: bool = True):  # -> Wave; imported lazily: a light test process
    """The example plan's web-rhel-02 row for each VM, its cutover window open now (or closed an hour ago), in the
    lab's cache account."""
    from vmshift.plan.schema import CutoverWindow
    from vmshift.plan.validation import validate_plan

    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3)) if window_open else \
        CutoverWindow(now - timedelta(hours=3), now - timedelta(hours=1))
    rows = tuple(dataclasses.replace(template, wave=name, source_vm=vm, target_vm_name=vm, nics=(),
                                     cutover_window=window, application_group=None, cache_storage_account=CACHE)
                 for vm in vms)
    return dataclasses.replace(plan.waves[0], name=name, vms=rows, cutover_window=window)


def start_step(step: str, vms: list[str], env: dict[str, str], log: Path, *, window_open: bool = True,
               **params: object) -> subprocess.Popen:
    """The step in its own process group (so kill -9 takes its threads and children with it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, __file__, step, ",".join(vms), json.dumps(params), "open" if window_open else "closed"],
            stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True,
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join((str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")))})


def finish_step(child: subprocess.Popen, log: Path) -> dict:
    """The step's result once its process ends: its last JSON line, since Prefect's workers may still log after it
    (an events worker "Still processing items" on a busy machine)."""
    child.wait(timeout=STEP_TIMEOUT_S)
    lines = log.read_text(errors="replace").strip().splitlines()
    try:
        return json.loads([line for line in lines if line.startswith("{")][-1])
    except (IndexError, ValueError):
        raise StepFailed(f"exit {child.returncode}, output:\n" + "\n".join(lines[-40:])) from None


def run_step(step: str, vms: list[str], env: dict[str, str], log: Path, *, window_open: bool = True,
             **params: object) -> dict:
    log.unlink(missing_ok=True)
    return finish_step(start_step(step, vms, env, log, window_open=window_open, **params), log)


def kill_when(child: subprocess.Popen, moment: Callable[[], bool], what: str, poll_s: float = 0.05) -> None:
    """kill -9 the step's process group as soon as `moment()` is true; fails if the step ended first."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not moment():
        if child.poll() is not None:
            raise StepFailed(f"the step ended (exit {child.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} did not happen in {STEP_TIMEOUT_S:.0f} s")
        time.sleep(poll_s)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def outcomes(result: dict) -> dict[str, str]:
    return {row["vm"]: row["outcome"] for row in result["vms"]}


def target_resources(vm: str) -> Counter[str]:
    """Every VM, NIC and managed disk in the target resource group named after the source VM, with counts."""
    from vmshift.azure.clients import connect

    clients = connect()
    names = [r.name for r in clients.compute.virtual_machines.list(TARGET_GROUP)]
    names += [r.name for r in clients.compute.disks.list_by_resource_group(TARGET_GROUP)]
    names += [r.name for r in clients.network.network_interfaces.list(TARGET_GROUP)]
    return Counter(name for name in names if name == vm or name.startswith(f"{vm}-"))


def source_power(vm: str) -> str:
    """The source VM's power state, as vCenter reports it."""
    from vmshift.vsphere import inventory
    from vmshift.vsphere.connection import VCenterConfig, connect

    with connect(VCenterConfig.from_env()) as session:
        return str(inventory.find_vm(session, vm).runtime.powerState)


def assert_disks_verified(vm: str, row: dict) -> None:
    """The cutover row's verification proved every source disk's managed disk equal, after the VM started: a rerun
    that found the VM built proves nothing, and must not pass for verified."""
    from vmshift.vsphere import inventory
    from vmshift.vsphere.connection import VCenterConfig, connect

    source = inventory.find_vm(connect(VCenterConfig.from_env()), vm)
    assert row["verification"] == "passed", row
    assert sorted(d["key"] for d in row["disks"]) == sorted(d.key for d in inventory.vm_disks(source)), row
    assert all(d["first_difference"] is None for d in row["disks"]), row


def main(step: str, vm_list: str, params_json: str = "{}", window: str = "open") -> dict:
    from flows.cleanup_test_migration import cleanup_test_migration
    from flows.cutover import cutover
    from flows.delta_sync import delta_sync
    from flows.migrate_wave import migrate_wave
    from flows.test_migrate import test_migrate
    from flows.verify_cutover import verify_cutover
    from vmshift.migration.appliance import Appliance

    vms, params = vm_list.split(","), json.loads(params_json)
    wave = lab_wave(f"rel-{vms[0]}", vms, window_open=window == "open")
    runs = {
        "replicate": lambda: migrate_wave(wave, Appliance()),
        "delta": lambda: delta_sync([CACHE], Appliance(), **DUE_NOW, vms=vms, **params),
        "test": lambda: test_migrate(wave, appliance=Appliance()),
        "cleanup": lambda: cleanup_test_migration(wave),
        "cutover": lambda: cutover(wave, appliance=Appliance(), skip_test_migration=True, shutdown_timeout_s=5,
                                   **params, return_state=True),
        "verify": lambda: verify_cutover(wave, return_state=True),
    }
    return asyncio.run(_result(runs[step]()))


async def _result(run: Awaitable) -> dict:
    """What the flow returned, a failed run's result included (a flow that returns a result and fails)."""
    from prefect import State

    outcome = await run
    return await outcome.aresult(raise_on_failure=False) if isinstance(outcome, State) else outcome


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), default=str), flush=True)
