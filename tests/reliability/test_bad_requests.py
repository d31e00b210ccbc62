"""Broken input through the doors a user has: a broken plan uploaded schedules nothing; a step called with a wave
or VM that does not exist is refused by name, before anything is touched."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from flows.selection import UnknownVm, select_vms
from vmshift.plan.validation import validate_plan

EXAMPLES = Path(__file__).parents[2] / "examples"
VMSHIFT = str(Path(sys.executable).parent / "vmshift")


def _runs(prefect: dict) -> list:
    headers = {"Authorization": f"Basic {base64.b64encode(prefect['auth_string'].encode()).decode()}"}
    for _ in range(30):  # a busy server answers 503; Prefect's client retries that too
        response = requests.post(f"{prefect['api_url']}/flow_runs/filter", json={}, headers=headers, timeout=30)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("breakage", ["formula", "duplicate", "binary", "empty"])
def test_a_broken_plan_uploaded_schedules_nothing_and_prints_no_traceback(
    breakage: str, step_env: dict, rel_prefect: tuple[Path, dict], tmp_path: Path
) -> None:
    lines = (EXAMPLES / "waves.csv").read_text().splitlines()
    broken = tmp_path / "plan.csv"
    if breakage == "formula":
        broken.write_text("\n".join([lines[0], "=cmd|' /C calc'!A0" + lines[1][lines[1].index(","):], *lines[2:]]))
    elif breakage == "duplicate":
        broken.write_text("\n".join([*lines, lines[1]]) + "\n")
    elif breakage == "binary":
        broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64))
    else:
        broken.write_text("")
    before = len(_runs(rel_prefect[1]))

    result = subprocess.run([VMSHIFT, "plan", "upload", str(broken), "--offline", "--start-at", "now", "--json"],
                            env={**os.environ, **step_env}, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and report["waves"] == [] and report["errors"]
    assert all({"row", "column", "message"} <= error.keys() for error in report["errors"])
    assert len(_runs(rel_prefect[1])) == before


def test_a_step_naming_a_vm_outside_the_wave_is_refused_by_name() -> None:
    wave = validate_plan(EXAMPLES / "waves.csv").raise_for_errors().waves[0]
    with pytest.raises(UnknownVm, match=r"not in wave wave-1: no-such-vm; its VMs: web-rhel-02, win-sql-01"):
        select_vms(wave, ["win-sql-01", "no-such-vm"])


def test_a_step_naming_a_wave_never_uploaded_is_refused_by_name(step_env: dict) -> None:
    code = ("import asyncio; from flows.selection import resolve_wave; "
            "asyncio.run(resolve_wave('wave-that-was-never-uploaded'))")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **step_env}, capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert result.returncode != 0
    assert "no uploaded wave named 'wave-that-was-never-uploaded'" in result.stderr
