"""`make demo`: a wave migrated end to end on the lab, the way a migration team runs it.

Lab up with a Prefect server → deployments and a process worker → `vmshift plan upload` → wave 1 replicates
→ guests churn → two delta cycles → test migration and its clean-up → cutover through Prefect's REST API →
the Azure disks read back and compared with the final source snapshot → a summary, and one JSON line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from cli.command import EXPECTED_ERRORS
from cli.command import main as vmshift
from deployments.trigger import StepRunFailed, finished_run, run_deployment_named
from vmshift.azure.permissions import OPERATOR_ROLE, SUBSCRIPTION_ROLE
from vmshift.lab import guest, launcher, process
from vmshift.lab.azure_roles import azure_role_assignments
from vmshift.lab.vcenter_role import SYSTEM_PRIVILEGES, vcenter_role
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME, role_privileges

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WAVE_PLAN = PROJECT_ROOT / "examples" / "waves.csv"
WORK_POOL = "vmshift"
PREFECT = str(Path(sys.executable).parent / "prefect")
RUN_TIMEOUT_S = 420.0
CHURN_PERCENT = 3.0
DEMO_MIN_INTERVAL_MINUTES = 0.05
DEMO_MARKER = "demo-ran"


class DemoFailed(RuntimeError):
    """A step of the demo did not end as it should; the message says which and why."""


def main() -> int:
    started = time.monotonic()
    folder = launcher.lab_dir()
    if (folder / DEMO_MARKER).exists():
        # The last demo cut its VMs over: a migrated VM is not migrated twice, so the demo starts on a new lab.
        _say(f"A previous demo ran in {folder}: taking that lab down and starting a fresh one")
        launcher.down(folder)
        shutil.rmtree(folder)
    _say(f"Bringing the lab up in {folder} (vCenter, Azurite, ARM + DNS, Prefect server)")
    lab = launcher.up(folder, with_prefect=True)
    os.environ.update(launcher.lab_env(lab))
    _say(f"Prefect UI: {lab['prefect']['ui_url']}  (API {lab['prefect']['api_url']}, behind its auth string)")

    _say("Deploying the flows (prefect.yaml) on the process work pool, and starting a worker")
    _deploy()
    _start_worker(folder)
    # Prefect reads its settings when it is imported, before lab.env was known to this process.
    settings = {PREFECT_API_URL: lab["prefect"]["api_url"], PREFECT_API_AUTH_STRING: lab["prefect"]["auth_string"]}
    # The worker keeps running with the lab, so that the steps can be triggered from the UI, the API or the
    # CLI afterwards; `vmshift lab down` stops it.
    with temporary_settings(updates=settings):
        return _run(lab, started)


def _run(lab: dict, started: float) -> int:
    roles = _documented_roles_held(lab)
    _say(f"Uploading the wave plan {WAVE_PLAN.name}: wave-1 starts now, wave-2 a week later")
    waves = _vmshift("plan", "upload", str(WAVE_PLAN), "--start-at", "now")["waves"]
    wave_run = next(w for w in waves if w["name"] == "wave-1")
    replicated = _wait(wave_run["flow_run_id"], "wave-1 replication")
    vms = [row["vm"] for row in replicated["vms"]]
    _table("wave-1 initial replication", replicated["vms"], ["vm", "outcome", "bytes_sent", "seconds", "error"])

    for cycle in (1, 2):
        for vm in vms:
            written = guest.churn_guest(lab, vm, CHURN_PERCENT, seed=cycle)["bytes_written"]
            _say(f"guest of {vm} wrote {written} bytes")
        # Azure Migrate's rule waits an hour at least; the demo shortens it to seconds.
        delta = _run_deployment("delta-sync/delta-sync", {"min_interval_minutes": DEMO_MIN_INTERVAL_MINUTES},
                                f"delta cycle {cycle}")
        _table(f"delta cycle {cycle}", delta["vms"], ["vm", "outcome", "kind", "bytes_sent", "changed_bytes", "error"])

    tested = _run_deployment("test-migrate/test-migrate", {"wave": "wave-1"}, "test migration")
    _table("test migration", tested["vms"], ["vm", "outcome", "error"])
    cleaned = _run_deployment("cleanup-test/cleanup-test", {"wave": "wave-1"}, "test migration clean-up")
    _table("clean-up", cleaned["vms"], ["vm", "outcome", "error"])

    _say("Cutover through Prefect's REST API: POST /api/deployments/{id}/create_flow_run")
    run_id = _cutover_over_rest(lab["prefect"], "wave-1")
    cut = _wait(run_id, "cutover")
    _table("cutover", cut["vms"], ["vm", "outcome", "downtime_s", "verification", "post_verify_s", "error"])

    completed = _run_deployment("complete-migration/complete-migration", {"wave": "wave-1"}, "complete migration")
    _table("complete migration", completed["vms"], ["vm", "outcome", "error"])
    _vmshift("status", "--wave", "wave-1")

    rows = cut["vms"]
    summary = {
        "vms": len(vms),
        "migrated": sum(row["outcome"] == "migrated" for row in rows),
        "verified": sum(row.get("verification") == "passed" for row in rows),
        "failed": sum(row["outcome"] != "migrated" for row in rows)
        + sum(row["outcome"] != "protected" for row in replicated["vms"]),
        "delta_cycles": 2,
        "test_migrated": sum(row["outcome"] == "test-migrated" for row in tested["vms"]),
        "seconds": round(time.monotonic() - started, 1),
        "ui": lab["prefect"]["ui_url"],
        "roles": roles,
    }
    (launcher.lab_dir() / DEMO_MARKER).touch()
    _say(f"Done in {summary['seconds']} s. Watch the runs in the Prefect UI at {summary['ui']}")
    print(json.dumps(summary))
    return 0 if summary["failed"] == 0 and summary["verified"] == summary["vms"] else 1


def _documented_roles_held(lab: dict) -> dict:
    """What vmshift's Azure app and vCenter user hold, read from the lab: the roles of docs/permissions.md and
    nothing more, so that the demo shows they are enough. Anything else stops the demo before it starts."""
    assignments = azure_role_assignments(lab)
    held = vcenter_role(lab)
    privileges = sorted(set(held["privileges"]) - SYSTEM_PRIVILEGES)
    azure_roles = {a["role"] for a in assignments}
    if azure_roles != {OPERATOR_ROLE.name, SUBSCRIPTION_ROLE.name} or held["name"] != ROLE_NAME \
            or privileges != role_privileges():
        raise DemoFailed(f"the demo runs with the documented roles only (docs/permissions.md), but vmshift's app "
                         f"holds {sorted(azure_roles)} and the vCenter user the role {held['name']!r} with "
                         f"{privileges}: start the demo on a lab of the default spec")
    for role in (SUBSCRIPTION_ROLE, OPERATOR_ROLE):
        scopes = sorted(a["scope"] for a in assignments if a["role"] == role.name)
        _say(f"vmshift's Azure app holds '{role.name}' ({role.file}) at {', '.join(scopes)}, and nothing else")
    _say(f"vmshift's vCenter user {held['user']} holds '{ROLE_NAME}' ({ROLE_FILE}): {', '.join(privileges)}")
    return {"azure": sorted(f"{a['role']} at {a['scope']}" for a in assignments),
            "vcenter": {"user": held["user"], "role": held["name"], "privileges": privileges}}


def _deploy() -> None:
    _check([PREFECT, "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], "creating the work pool")
    # As a team deploys: `prefect deploy --all`, then each deployment sealed against unknown parameters.
    _check([str(Path(sys.executable).parent / "vmshift"), "deploy"], "vmshift deploy")


def _start_worker(folder: Path) -> None:
    worker = launcher.lab_part(folder, "worker")
    if worker.pid() is None:
        # Flow results are persisted so that the demo (and anyone in the UI) can read what each run returned.
        process.start(worker, [PREFECT, "worker", "start", "--pool", WORK_POOL, "--type", "process"],
                      {"PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true"}, cwd=PROJECT_ROOT)


def _cutover_over_rest(prefect: dict, wave: str) -> str:
    """The one call the README documents: create a flow run of the `cutover` deployment."""
    api, token = prefect["api_url"], base64.b64encode(prefect["auth_string"].encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    deployment = requests.get(f"{api}/deployments/name/cutover/cutover", headers=headers, timeout=30)
    deployment.raise_for_status()
    created = requests.post(f"{api}/deployments/{deployment.json()['id']}/create_flow_run", headers=headers,
                            json={"parameters": {"wave": wave}}, timeout=30)
    created.raise_for_status()
    return created.json()["id"]


def _run_deployment(name: str, parameters: dict, what: str) -> dict:
    created = asyncio.run(run_deployment_named(name, parameters, wait=False))
    return _wait(created["flow_run_id"], what)


def _wait(flow_run_id: str, what: str) -> dict:
    _say(f"{what}: flow run {flow_run_id} …")
    try:
        return asyncio.run(finished_run(flow_run_id, what, RUN_TIMEOUT_S))
    except StepRunFailed as failure:
        raise DemoFailed(f"{failure}; see the worker's log in the lab folder") from failure


def _vmshift(*args: str) -> dict:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        code = vmshift([*args, "--json"])
    lines = out.getvalue().strip().splitlines()
    print("\n".join(lines[:-1]))
    if code != 0:
        raise DemoFailed(f"vmshift {' '.join(args)} failed: {lines[-1] if lines else ''}")
    return json.loads(lines[-1])


def _check(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if result.returncode != 0:
        raise DemoFailed(f"{what} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def _table(title: str, rows: list[dict], columns: list[str]) -> None:
    print(f"\n{title}")
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns} if rows else {}
    print("  " + "  ".join(c.ljust(widths.get(c, len(c))) for c in columns))
    for row in rows:
        print("  " + "  ".join(str(row.get(c, "") if row.get(c) is not None else "").ljust(widths[c])
                               for c in columns))


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (DemoFailed, *EXPECTED_ERRORS) as failure:
        print(f"demo failed: {failure}", file=sys.stderr)
        print(json.dumps({"vms": 0, "migrated": 0, "verified": 0, "failed": 1, "error": str(failure)}))
        raise SystemExit(1) from None
