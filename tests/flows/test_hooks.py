"""Per-VM hooks: the plan names them, the appliance's hooks file says what they run; a failing pre-hook stops that
VM's step; a hook sees the VM's facts and no credentials; no flow parameter can carry a command."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from pathlib import Path

import pytest
from local_steps import LocalSteps, wave_of

from flows.cutover import cutover
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.plan.hooks import HOOKS_FILE_ENV
from vmshift.plan.schema import HookMoment

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _hooks_file(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = folder / "hooks.toml"
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv(HOOKS_FILE_ENV, str(path))


def _wave_with_hook(name: str) -> object:
    wave = wave_of("hooks", ["vm-a"])
    vm = dataclasses.replace(wave.vms[0], hooks=((HookMoment.PRE_TEST_MIGRATION, name),))
    return dataclasses.replace(wave, vms=(vm,))


def test_a_failing_pre_hook_stops_that_vms_test_migration_and_sees_only_its_facts(monkeypatch, tmp_path) -> None:
    LocalSteps(monkeypatch, ["vm-a"]).replicated("vm-a")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cret-never-shown")
    _hooks_file(tmp_path, '[hooks.probe]\ncommand = ["sh", "-c", "env; cat; exit 3"]\n', monkeypatch)

    row = asyncio.run(run_test_migrate(_wave_with_hook("probe")))["vms"][0]

    assert row["outcome"] == "failed"
    assert "pre-test-migration hook probe" in row["error"] and "exited with 3" in row["error"]
    assert "VMSHIFT_HOOK_VM=vm-a" in row["error"]
    stdin = json.loads(row["error"][row["error"].index("{"):])
    assert stdin["vm"] == "vm-a" and stdin["moment"] == "pre-test-migration" and stdin["wave"] == "hooks"
    assert "s3cret-never-shown" not in row["error"]


def test_a_hook_the_appliance_no_longer_declares_does_not_run(monkeypatch, tmp_path) -> None:
    LocalSteps(monkeypatch, ["vm-a"]).replicated("vm-a")
    _hooks_file(tmp_path, '[hooks.other]\ncommand = ["true"]\n', monkeypatch)

    row = asyncio.run(run_test_migrate(_wave_with_hook("probe")))["vms"][0]

    assert row["outcome"] == "failed" and "unknown hook 'probe'" in row["error"]


def test_no_flow_takes_a_command_for_a_hook() -> None:
    for flow in (run_test_migrate, cutover):
        assert "hooks" not in inspect.signature(flow.fn).parameters
