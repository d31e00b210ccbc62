"""`make demo` is the main job: run end to end on a lab of its own, it migrates every VM of wave 1, the Azure
disks read back equal to the final source snapshot, and nothing it leaves behind holds a secret it used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_secrets import log_files, prefect_records, secret_hits, secrets_of, state_documents

from vmshift.azure.permissions import OPERATOR_ROLE, SUBSCRIPTION_ROLE
from vmshift.lab import launcher
from vmshift.vsphere.privileges import ROLE_NAME, role_privileges

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 900

pytestmark = pytest.mark.lab


@pytest.fixture
def demo_lab(tmp_path: Path):
    """(lab folder, Prefect home, environment) of the demo's own, taken down afterwards whatever it did."""
    folder, prefect_home = tmp_path / "demo-lab", tmp_path / "prefect-home"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("VMSHIFT_", "PREFECT_", "AZURE_"))}
    env |= {"VMSHIFT_LAB_DIR": str(folder), "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    yield folder, prefect_home, env
    subprocess.run([sys.executable, "-m", "cli.command", "lab", "down"], env=env, cwd=PROJECT_ROOT,
                   capture_output=True, timeout=120, check=False)


def test_the_demo_migrates_wave_1_end_to_end_and_leaves_no_secret_behind(demo_lab, monkeypatch) -> None:
    folder, prefect_home, env = demo_lab

    done = subprocess.run([sys.executable, "-m", "cli.demo"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=DEMO_TIMEOUT_S, check=False)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["vms"] >= 2 and summary["failed"] == 0
    assert summary["migrated"] == summary["verified"] == summary["test_migrated"] == summary["vms"]
    assert "Traceback" not in output
    # ... with the documented roles and nothing more, on both sides
    assert {held.split(" at ")[0] for held in summary["roles"]["azure"]} == {OPERATOR_ROLE.name, SUBSCRIPTION_ROLE.name}
    assert summary["roles"]["vcenter"]["role"] == ROLE_NAME
    assert summary["roles"]["vcenter"]["privileges"] == role_privileges()
    assert (folder / "demo-ran").exists()

    # Scanned before the fixture takes the lab down: the demo's Prefect records, state documents, the worker's
    # and the lab parts' logs, whatever Prefect kept in its home, and what the demo printed.
    lab = json.loads((folder / "lab.json").read_text())
    for name, value in launcher.lab_env(lab).items():
        monkeypatch.setenv(name, value)
    places = {"the demo's output": output, **prefect_records(lab["prefect"]),
              **state_documents(*lab["azurite"]["accounts"]), **log_files(folder, prefect_home)}
    assert str(folder / "logs" / "worker.log") in places
    assert any("web-rhel-02" in places[place] for place in ("Prefect logs", "Prefect flow_runs")), \
        "the scan found none of the demo's records"
    assert secret_hits(places, secrets_of(lab, lab["prefect"])) == []
