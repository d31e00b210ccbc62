"""Soak: the reliability tests' faults again and again on a lab of its own, counting what was lost or duplicated.

    python bench/soak.py [--iterations 12] [--max-seconds 1200]

Brings up a lab (vcsim, Azurite, ARM + DNS, a Prefect server; loopback only) from tests/lab-spec.json in a
temporary folder, replicates one VM, then alternates two faults until either bound is reached:
- kill-9-delta: the guest writes, a delta-sync run is killed -9 after a random 0-3 s, then run again;
- arm-20pct: 20 % of ARM requests answer 429 or 503 during a test migration and its clean-up.
After each: the replica is compared with the source (lost), vmshift snapshots left on the source are counted,
and each target resource named after the VM must exist at most once (duplicated). A delta-sync run that ended
before its kill is not a run of the fault: it is counted apart (not_injected). Prints one line per
iteration, then one JSON object as the last line. The lab is taken down at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
from wave_runs import CACHE, StepFailed, kill_when, outcomes, run_step, start_step, target_resources

from vmshift.lab import launcher
from vmshift.lab.guest import churn_guest, write_guest
from vmshift.lab.prefect_server import client_environment
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.verify import verify_vm
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect

SPEC = Path(__file__).resolve().parents[1] / "tests" / "lab-spec.json"
VM = "rel-kill-01"
FAULTS = ("kill-9-delta", "arm-20pct")


def kill_delta(env: dict[str, str], logs: Path, rng: random.Random, lab: dict) -> tuple[str, int] | None:
    """(the VM's outcome, test resources duplicated): a delta cycle killed at a random moment, then run again;
    None when the cycle ended before its moment came (no kill, nothing to count)."""
    churn_guest(lab, VM, 20.0, seed=rng.randrange(1 << 30))
    started, delay = time.monotonic(), rng.uniform(0.0, 3.0)
    child = start_step("delta", [VM], env, logs / "delta-killed.log")
    try:
        kill_when(child, lambda: time.monotonic() - started > delay, f"{delay:.1f} s")
    except StepFailed:
        return None
    return outcomes(run_step("delta", [VM], env, logs / "delta.log"))[VM], 0


def arm_faults(env: dict[str, str], logs: Path, rng: random.Random, lab: dict) -> tuple[str, int]:
    """(the VM's outcome, test resources duplicated): a test migration and its clean-up with ARM throttling."""
    faults = lab["arm"]["endpoint"].rstrip("/") + "/_lab/faults"
    plan = {"rate": 0.2, "statuses": [429, 503], "retry_after": 0.2, "seed": rng.randrange(1 << 30)}
    requests.post(faults, json=plan, verify=lab["ca_file"], timeout=10).raise_for_status()
    try:
        tested = outcomes(run_step("test", [VM], env, logs / "test.log"))[VM]
        duplicated = sum(n - 1 for n in target_resources(f"{VM}-test").values())
        cleaned = outcomes(run_step("cleanup", [VM], env, logs / "cleanup.log"))[VM]
    finally:
        requests.post(faults, json={}, verify=lab["ca_file"], timeout=10)
    return f"{tested}/{cleaned}", duplicated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--max-seconds", type=float, default=1200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng, started = random.Random(args.seed), time.monotonic()
    counts = {fault: {"runs": 0, "completed": 0, "lost": 0, "duplicated": 0, "snapshots_left": 0, "not_injected": 0}
              for fault in FAULTS}
    with tempfile.TemporaryDirectory(prefix="vmshift-soak-") as tmp:
        folder, logs = Path(tmp) / "lab", Path(tmp) / "steps"
        logs.mkdir()
        os.environ["VMSHIFT_LAB_DIR"] = str(folder)
        try:
            lab = launcher.up(folder, SPEC, cache_dir=launcher.PROJECT_ROOT / ".cache", with_prefect=True)
            os.environ.update(launcher.lab_env(lab))
            env = client_environment(lab["prefect"])
            write_guest(lab, VM, 0, os.urandom(4 << 20))
            assert outcomes(run_step("replicate", [VM], env, logs / "replicate.log")) == {VM: "protected"}
            for i in range(args.iterations):
                if time.monotonic() - started > args.max_seconds:
                    break
                fault = FAULTS[i % len(FAULTS)]
                result = (kill_delta if fault == "kill-9-delta" else arm_faults)(env, logs, rng, lab)
                row = counts[fault]
                if result is None:
                    row["not_injected"] += 1
                    print(f"{i + 1:3d} {fault:14s} the step ended before the fault: not counted", flush=True)
                    continue
                outcome, test_duplicated = result
                row["runs"] += 1
                row["completed"] += outcome in ("protected", "test-migrated/cleaned")
                row["duplicated"] += sum(n - 1 for n in target_resources(VM).values()) + test_duplicated
                row["lost"] += not verify_vm(VM, settings=ReplicationSettings.from_env(CACHE))["equal"]
                source = inventory.find_vm(connect(VCenterConfig.from_env()), VM)
                row["snapshots_left"] += len(snapshots.find_snapshots(source, inventory.OWN_SNAPSHOT_PREFIX))
                print(f"{i + 1:3d} {fault:14s} {outcome}" + (f" ({test_duplicated} duplicated)" if test_duplicated
                                                              else ""), flush=True)
        finally:
            launcher.down(folder)
    summary = {"seconds": round(time.monotonic() - started, 1), "faults": counts,
               "ratio_completed": {f: c["completed"] / c["runs"] if c["runs"] else None for f, c in counts.items()}}
    print(json.dumps(summary))
    return 0 if all(c["lost"] == c["duplicated"] == c["snapshots_left"] == 0 for c in counts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
