"""The DNS gate runs before every write to a cache account: a step that would write there through a public address
refuses the VM, before its hooks or anything else (the lab's cutover refusal: tests/reliability/test_server_faults)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from local_steps import LocalSteps, wave_of

from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.dns_gate import DnsGateFailed

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _public(account: str) -> None:
    raise DnsGateFailed("public-address", f"{account}.blob.core.windows.net resolves to a public address")


def test_a_closed_gate_refuses_the_test_migration_that_would_write_a_prepared_copy(monkeypatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a"])
    steps.replicated("vm-a")
    steps.gate = _public
    wave = wave_of("gated", ["vm-a"])
    prepared = dataclasses.replace(wave, vms=(dataclasses.replace(wave.vms[0], prepare_os=True),))

    row = asyncio.run(run_test_migrate(prepared))["vms"][0]

    account = wave.vms[0].cache_storage_account
    assert row["outcome"] == "refused"
    assert row["error"] == (f"the DNS gate of {account} is closed, and OS preparation writes to it: "
                            f"{account}.blob.core.windows.net resolves to a public address")
    assert [step for step, _ in steps.calls] == ["permissions", "gate"]  # nothing after the gate


def test_a_test_migration_left_with_no_vm_to_build_reports_each_vm_and_reads_no_inventory(monkeypatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a", "vm-b"])
    steps.gate = _public
    wave = wave_of("gated", ["vm-a", "vm-b"])
    rows = (dataclasses.replace(wave.vms[0], prepare_os=True),
            dataclasses.replace(wave.vms[1], allow_test_migration=False))

    result = asyncio.run(run_test_migrate(dataclasses.replace(wave, vms=rows)))

    assert {row["vm"]: row["outcome"] for row in result["vms"]} == {"vm-a": "refused", "vm-b": "skipped"}
