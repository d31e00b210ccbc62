"""`vmshift appliance` processes against a lab's Prefect server, for the tests and benches that need several.

Each starts in a process group of its own (kill -9 of the group takes everything it runs), logs to
`<folder>/<name>/appliance.log` and keeps its bandwidth cap's ledger in `<folder>/<name>` (VMSHIFT_APPLIANCE_DIR).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from vmshift.lab.prefect_server import client_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def start_appliance(folder: Path, prefect: dict, name: str, *, limit: int, lost_after_s: int,
                    bandwidth_mb_s: float | None = None, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start the appliance `name` on the server of `prefect` (a lab.json entry); `env` on top of this process's
    (the vCenter it serves: VMSHIFT_VCENTER_*)."""
    home = folder / name
    home.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {}), **client_environment(prefect), "PYTHONPATH": str(PROJECT_ROOT),
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "2",
                 "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", "VMSHIFT_APPLIANCE_NAME": name,
                 "VMSHIFT_APPLIANCE_DIR": str(home)}
    if bandwidth_mb_s is not None:
        child_env["VMSHIFT_BANDWIDTH_MB_S"] = str(bandwidth_mb_s)
    with (home / "appliance.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.command", "appliance", "--limit", str(limit), "--lost-after",
             str(lost_after_s)],
            cwd=PROJECT_ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def appliance_logs(folder: Path, tail: int = 3000) -> str:
    """The end of each appliance's log under `folder`."""
    return "\n".join(f"--- {path.parent.name}\n" + path.read_text(errors="replace")[-tail:]
                     for path in sorted(folder.glob("*/appliance.log")))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end before a start at the same instant): how many disk reads of
    a host the appliances held at once, from their cycles' (start, end)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = open_now = 0
    for _, step in events:
        open_now += step
        most = max(most, open_now)
    return most
