"""What Prefect costs per VM: a wave through the migrate-wave DAG against the same calls in a plain loop.

    python bench/orchestration.py [--vms 200] [--concurrency 16] [--steps sleep|lab] [--work 0.5]

Both runs make the same step calls (endpoint, DNS, gate, inventory, then one replication cycle per VM) with the
same concurrency: the DAG through Prefect (tasks, one async subflow per VM, global concurrency limits, on a lab
Prefect server with PostgreSQL), the baseline in a thread pool. `--steps sleep` makes each step a sleep of
`--work` seconds (Prefect's overhead alone); `--steps lab` brings up a lab of its own (vcsim, Azurite, ARM) with
2 x `--vms` VMs of one 1 MiB disk, and replicates one half in the loop and the other half through the DAG, so
that both do initial cycles. Prints a table, then one JSON object as the last line.
Targets: at most 0.5 s of overhead per VM and at most 1.5x the plain loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.overhead import overhead_per_vm, plain_loop
from flows.migrate_wave import migrate_wave
from tasks.slots import ensure_limits
from vmshift.azure.dns_gate import GateResult, Resolution
from vmshift.azure.endpoint import PrivateEndpointInfo
from vmshift.azure.private_dns import PrivateDnsSetup
from vmshift.lab import launcher
from vmshift.migration import access, connections, private_link, row_lifecycle
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitKind, planned_limits
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan

PROJECT = Path(__file__).resolve().parents[1]
TARGET_OVERHEAD_S = 0.5
TARGET_RATIO = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--steps", choices=["sleep", "lab"], default="sleep")
    parser.add_argument("--work", type=float, default=0.5, help="seconds each sleeping replication cycle takes")
    args = parser.parse_args()
    names = [f"bench-{i:04d}" for i in range(args.vms)]
    looped = [f"loop-{i:04d}" for i in range(args.vms)]
    with tempfile.TemporaryDirectory(prefix="vmshift-bench-") as folder:
        if args.steps == "sleep":
            _sleeping_steps(names, args.work)
            looped = names
        with _lab(Path(folder), [*names, *looped]) if args.steps == "lab" else contextlib.nullcontext():
            plain_s, dag_s, outcomes = _measure(names, looped, args.concurrency, Path(folder))
    _print(args, plain_s, dag_s, outcomes)


def _measure(names: list[str], looped: list[str], concurrency: int, folder: Path) -> tuple[float, float, list[str]]:
    """The plain loop over `looped`, then the DAG over `names` on a Prefect server of its own."""
    appliance = Appliance(name="bench-appliance")
    plain_s = plain_loop(_wave(looped), appliance, concurrency)
    with launcher.running_prefect_server(folder) as entry, \
            temporary_settings({PREFECT_API_URL: entry["api_url"], PREFECT_API_AUTH_STRING: entry["auth_string"]}):
        dag_s, outcomes = asyncio.run(_through_dag(_wave(names), appliance, concurrency))
        # Logs and events go to the server in the background: send them before it stops, or the process
        # lingers at exit retrying a server that is gone.
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)
    return plain_s, dag_s, outcomes


def _print(args: argparse.Namespace, plain_s: float, dag_s: float, outcomes: list[str]) -> None:
    overhead = overhead_per_vm(dag_s, plain_s, args.vms)
    ratio = dag_s / plain_s
    print(f"{'VMs':<28}{args.vms}\n{'concurrency':<28}{args.concurrency}\n{'steps':<28}{args.steps}")
    print(f"{'plain loop (s)':<28}{plain_s:.1f}\n{'Prefect DAG (s)':<28}{dag_s:.1f}")
    print(f"{'overhead per VM (s)':<28}{overhead:.3f}  (target <= {TARGET_OVERHEAD_S})")
    print(f"{'DAG / plain loop':<28}{ratio:.2f}  (target <= {TARGET_RATIO})")
    print(json.dumps({"vms": args.vms, "concurrency": args.concurrency, "steps": args.steps,
                      "plain_s": round(plain_s, 2), "dag_s": round(dag_s, 2),
                      "overhead_per_vm_s": round(overhead, 3), "ratio": round(ratio, 2),
                      "protected": outcomes.count("protected"), "failed": len(outcomes) - outcomes.count("protected"),
                      "meets_targets": overhead <= TARGET_OVERHEAD_S and ratio <= TARGET_RATIO}))


async def _through_dag(wave: Wave, appliance: Appliance, concurrency: int) -> tuple[float, list[str]]:
    """The wave through migrate-wave, every limit it takes sized to `concurrency`."""
    overrides = {kind.value: concurrency for kind in LimitKind}
    await ensure_limits(planned_limits(["esx-01.lab.local", "esx-02.lab.local", appliance.vcenter],
                                       ["ds-ssd-01", "ds-nfs-02"], [appliance.name], [appliance.vcenter],
                                       overrides), update=True)
    started = time.monotonic()
    result = await migrate_wave(wave, appliance)
    return time.monotonic() - started, [row["outcome"] for row in result["vms"]]


@contextlib.contextmanager
def _lab(folder: Path, names: list[str]) -> Iterator[None]:
    """A lab of the default spec's Azure side with these VMs of one 1 MiB disk each, its environment set."""
    spec = json.loads((PROJECT / "vmshift" / "lab" / "specs" / "default.json").read_text())
    hosts = [host for cluster in spec["vcenter"]["clusters"] for host in cluster["hosts"]]
    datastores = [ds["name"] for ds in spec["vcenter"]["datastores"]]
    spec["vcenter"]["vms"] = [
        {"name": name, "guest_id": "rhel8_64Guest", "firmware": "efi", "cpus": 1, "memory_mib": 1024,
         "power_state": "poweredOn", "host": hosts[i % len(hosts)], "datastore": datastores[i % len(datastores)],
         "disks": [{"capacity_mib": 1}], "nics": [{"network": spec["vcenter"]["networks"][0]}]}
        for i, name in enumerate(names)]
    spec_file = folder / "bench-spec.json"
    spec_file.write_text(json.dumps(spec))
    lab_folder = folder / "lab"
    try:
        lab = launcher.up(lab_folder, spec_file, cache_dir=PROJECT / ".cache")
        os.environ.update(launcher.lab_env(lab))
        yield
    finally:
        launcher.down(lab_folder)


def _wave(names: list[str]) -> Wave:
    plan = validate_plan(PROJECT / "examples" / "waves.csv",
                         now=pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime()).raise_for_errors()
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")
    rows = tuple(dataclasses.replace(template, wave="bench", source_vm=name, target_vm_name=name, nics=())
                 for name in names)
    return dataclasses.replace(plan.waves[0], name="bench", vms=rows)


def _sleeping_steps(names: list[str], work_s: float) -> None:
    """Each step a sleep: what remains of the DAG's wall time beyond the loop's is Prefect's."""
    endpoint = PrivateEndpointInfo(id="/pe", name="pe-bench-blob", account_id="/sa", status="Approved",
                                   approval="automatic", nic_id="/nic", private_ip="10.10.2.4")
    resolution = Resolution("bench.blob.core.windows.net", "local", addresses=("10.10.2.4",))
    inventory = pd.DataFrame([
        {"vm": name, "guest_os": "rhel8_64Guest", "firmware": "efi", "power_state": "poweredOn", "disk_key": 2000,
         "capacity_bytes": 2**20, "datastore_path": f"[ds-nfs-02] {name}/{name}.vmdk", "cbt": True,
         "host": "esx-01.lab.local"} for name in names])
    access.check_access = lambda *_: None
    private_link.reach_endpoint = lambda *_: endpoint
    private_link.setup_private_dns = lambda *_: PrivateDnsSetup("/zone", "/link", "/group")
    private_link.check_gate = lambda *_: GateResult(resolution.fqdn, True, "private", "private", resolution)
    connections.read_inventory = lambda wanted, vcenter=None: inventory[inventory['vm'].isin(wanted)]

    def cycle(vm: str, cache_account: str, stop: threading.Event, on_progress: Callable[[float], None], *_: object
              ) -> dict:
        time.sleep(work_s)
        return {"vm": vm, "cycle": 1, "kind": "initial", "bytes_sent": 2**20, "seconds": work_s}
    connections.run_cycle = cycle
    row_lifecycle.refusals = lambda vms, step: {}  # every VM may replicate; its state documents are not read
    row_lifecycle.history = lambda vm, account: f"# {vm}"


if __name__ == "__main__":
    sys.exit(main())
