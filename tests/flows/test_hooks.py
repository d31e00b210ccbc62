"""Per-VM hooks: a failing pre-hook stops that VM's step; a hook sees the VM's facts and no credentials."""

from __future__ import annotations

import asyncio
import json

import pytest
from local_steps import LocalSteps, wave_of

from flows.test_migrate import test_migrate as run_test_migrate
from tasks.hooks import HookMoment

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_failing_pre_hook_stops_that_vms_test_migration_and_sees_only_its_facts(monkeypatch) -> None:
    LocalSteps(monkeypatch, ["vm-a"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s3cret-never-shown")
    hook = "sh -c 'env; cat; exit 3'"
    result = asyncio.run(run_test_migrate(wave_of("hooks", ["vm-a"]), hooks={HookMoment.PRE_TEST_MIGRATION: hook}))
    row = result["vms"][0]
    assert row["outcome"] == "failed"
    assert "pre-test-migration hook" in row["error"] and "exited with 3" in row["error"]
    assert "VMSHIFT_HOOK_VM=vm-a" in row["error"]
    stdin = json.loads(row["error"][row["error"].index("{"):])
    assert stdin["vm"] == "vm-a" and stdin["moment"] == "pre-test-migration" and stdin["wave"] == "hooks"
    assert "s3cret-never-shown" not in row["error"]
