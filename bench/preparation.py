"""What OS preparation adds to a test migration: the same lab guest test-migrated with `prepare_os=no` and with
preparation, from the same recovery point.

    python bench/preparation.py [--guest rhel-like|ubuntu-like|debian12|windows-like] [--runs 1]

Brings up a lab of its own (vcsim, Azurite, ARM) with one VM holding the chosen lab guest, replicates it once, then
test-migrates it (vmshift.migration.target.build_test_vm, as the test-migrate flow's task calls it): first
without preparation (the baseline), then with it, the preparation's record and prepared copy removed before each
prepared run so that it is done, not reused. The test VM is cleaned up after each run. Prints a table, then one JSON
object as the last line. The first libguestfs launch on a machine builds its appliance (~30-60 s, cached under
/var/tmp): run `make setup` first, or read the second run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from vmshift.lab import launcher
from vmshift.migration.appliance import Appliance
from vmshift.migration.connections import source_facts
from vmshift.migration.target import build_test_vm, clean_up_test_vm
from vmshift.plan.schema import OsType, WavePlanRow
from vmshift.plan.validation import validate_plan
from vmshift.preparation.prepared_copy import prepared_name
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.storage import blob_service_client
from vmshift.state.lifecycle import Actor

PROJECT = Path(__file__).resolve().parents[1]
VM = "bench-prep-01"
CACHE = "vmshiftcache01"
BENCH = Actor("bench/preparation.py", run="bench")  # who takes its test migrations' lifecycle steps
CAPACITY_MIB = {"rhel-like": 64, "ubuntu-like": 64, "windows-like": 64, "debian12": 1024}


def bench_spec(folder: Path, guest: str) -> Path:
    """The default spec's Azure side, and one VM whose disk is the lab guest."""
    spec = json.loads((PROJECT / "vmshift" / "lab" / "specs" / "default.json").read_text())
    template = spec["vcenter"]["vms"][0]
    windows = guest == "windows-like"
    spec["vcenter"]["vms"] = [{
        **template, "name": VM, "power_state": "poweredOn", "firmware": "bios", "nics": template["nics"][:1],
        "guest_id": "windows2019srv_64Guest" if windows else "rhel8_64Guest",
        "disks": [{"capacity_mib": CAPACITY_MIB[guest], "image": guest}],
    }]
    path = folder / "preparation-spec.json"
    path.write_text(json.dumps(spec))
    return path


def plan_row(guest: str, prepare_os: bool) -> WavePlanRow:
    """The example plan's web-rhel-02 row, for the bench's VM."""
    plan = validate_plan(PROJECT / "examples" / "waves.csv",
                         now=pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime()).raise_for_errors()
    template = next(row for row in plan.waves[0].vms if row.source_vm == "web-rhel-02")
    return dataclasses.replace(template, source_vm=VM, target_vm_name=VM, nics=(), cache_storage_account=CACHE,
                               os_type=OsType.WINDOWS if guest == "windows-like" else OsType.LINUX,
                               prepare_os=prepare_os)


def forget_preparation(settings: ReplicationSettings, report: dict) -> None:
    """The recovery point's prepared copy and its record removed: the next prepared run prepares again."""
    disk = report["disks"][0]
    replicas = blob_service_client(CACHE).get_container_client(settings.replica_container)
    name = prepared_name(f"{VM}/disk-{disk['key']}.vhd", disk["recovery_point"])
    for blob in replicas.list_blobs(name_starts_with=name):
        replicas.delete_blob(blob.name)


def run(guest: str, runs: int) -> dict:
    settings = ReplicationSettings.from_env(CACHE)
    report = replicate_once(VM, settings=settings)
    facts = source_facts([VM], {})[VM]
    timings: dict[str, list[float]] = {"unprepared": [], "prepared": []}
    preparation_s: list[float] = []
    for _ in range(runs):
        for kind in ("unprepared", "prepared"):
            row = plan_row(guest, prepare_os=kind == "prepared")
            forget_preparation(settings, report)
            started = time.monotonic()
            built = build_test_vm(row, facts, Appliance(), BENCH)
            timings[kind].append(time.monotonic() - started)
            if built.preparation is not None:
                preparation_s.append(built.preparation.seconds)
            clean_up_test_vm(row, BENCH)
    unprepared, prepared = statistics.median(timings["unprepared"]), statistics.median(timings["prepared"])
    return {"guest": guest, "runs": runs, "test_migration_unprepared_s": round(unprepared, 1),
            "test_migration_prepared_s": round(prepared, 1),
            "preparation_s": round(statistics.median(preparation_s), 1),
            "added_s": round(prepared - unprepared, 1),
            "prepared_vs_unprepared": round(prepared / unprepared, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guest", choices=sorted(CAPACITY_MIB), default="rhel-like")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmshift-bench-preparation-") as folder:
        lab_folder = Path(folder) / "lab"
        try:
            lab = launcher.up(lab_folder, bench_spec(Path(folder), args.guest), cache_dir=PROJECT / ".cache")
            os.environ.update(launcher.lab_env(lab))
            figures = run(args.guest, args.runs)
        finally:
            launcher.down(lab_folder)
    print(f"test migration of a {args.guest} guest ({CAPACITY_MIB[args.guest]} MiB), median of {args.runs}:")
    print(f"  without preparation  {figures['test_migration_unprepared_s']:8.1f} s")
    print(f"  with preparation     {figures['test_migration_prepared_s']:8.1f} s   "
          f"(preparation {figures['preparation_s']:.1f} s, x{figures['prepared_vs_unprepared']})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
