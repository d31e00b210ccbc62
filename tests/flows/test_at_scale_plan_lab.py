"""A plan in the format of Azure Migrate's at-scale scripts (Input.csv) validates and replicates on the lab."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.migrate_wave import migrate_wave
from vmshift.migration.appliance import Appliance
from vmshift.migration.live_checks import live_checks_from_env
from vmshift.plan.validation import parse_start_at, validate_plan

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_an_at_scale_input_csv_validates_against_the_lab_and_its_wave_replicates(lab: dict) -> None:
    with live_checks_from_env() as checks:
        result = validate_plan(EXAMPLES / "azure-migrate-input.csv", checks=checks,
                               waves_file=EXAMPLES / "azure-migrate-waves.csv", start_at=parse_start_at("now"),
                               region="westeurope", cache_storage_account="vmshiftcache01")
    assert result.ok, result.text()
    wave = next(w for w in result.plan.waves if w.name == "wave-2")
    assert {vm.source_vm for vm in wave.vms} == {"app-linux-01", "win-iis-03"}
    assert {vm.source_vm: vm.resource_group for vm in wave.vms} == dict.fromkeys(
        ["app-linux-01", "win-iis-03"], "rg-target")

    replicated = asyncio.run(migrate_wave(wave, Appliance()))

    assert {row["vm"]: row["outcome"] for row in replicated["vms"]} == {
        "app-linux-01": "protected", "win-iis-03": "protected"}, replicated
