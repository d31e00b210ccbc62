"""`make demo` is the main job: run end to end on a lab of its own, it migrates every VM of wave 1 and the Azure
disks read back equal to the final source snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT_S = 900

pytestmark = pytest.mark.lab


@pytest.fixture
def demo_lab(tmp_path: Path):
    """A lab folder of the demo's own, taken down afterwards whatever the demo did."""
    folder = tmp_path / "demo-lab"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("VMSHIFT_", "PREFECT_", "AZURE_"))}
    env |= {"VMSHIFT_LAB_DIR": str(folder), "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    yield folder, env
    subprocess.run([sys.executable, "-m", "vmshift.cli", "lab", "down"], env=env, cwd=PROJECT_ROOT,
                   capture_output=True, timeout=120, check=False)


def test_the_demo_migrates_wave_1_end_to_end_and_verifies_every_disk(demo_lab):
    folder, env = demo_lab

    done = subprocess.run([sys.executable, "-m", "vmshift.demo"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=DEMO_TIMEOUT_S, check=False)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["vms"] >= 2 and summary["failed"] == 0
    assert summary["migrated"] == summary["verified"] == summary["test_migrated"] == summary["vms"]
    assert "Traceback" not in output
    assert (folder / "demo-ran").exists()
