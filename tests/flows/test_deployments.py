"""`vmshift deploy` deploys prefect.yaml against the lab's Prefect server; a plan upload schedules each wave once;
the cutover is one authenticated REST call."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from deployments.upload import upload_plan, uploaded_wave
from vmshift.plan.validation import validate_plan

PROJECT = Path(__file__).parents[2]
DEPLOYMENTS = {"migrate-wave/wave-replicate", "delta-sync/delta-sync", "test-migrate/test-migrate",
               "cleanup-test/cleanup-test", "cutover/cutover", "verify-cutover/verify-cutover",
               "complete-migration/complete-migration",
               "rollback/rollback"}


def example_plan():
    return validate_plan(PROJECT / "examples" / "waves.csv").raise_for_errors()


def test_vmshift_deploy_creates_every_deployment(deployed: dict) -> None:
    async def names() -> set[str]:
        async with get_client() as client:
            flows = {flow.id: flow.name for flow in await client.read_flows()}
            return {f"{flows[d.flow_id]}/{d.name}" for d in await client.read_deployments()}
    assert asyncio.run(names()) >= DEPLOYMENTS


def test_uploading_the_same_plan_twice_creates_nothing_twice(deployed: dict) -> None:
    first = asyncio.run(upload_plan(example_plan()))
    again = asyncio.run(upload_plan(example_plan()))
    assert [wave["name"] for wave in first] == ["wave-1", "wave-2"]
    assert [w["flow_run_id"] for w in again] == [w["flow_run_id"] for w in first]
    assert not any(wave["created"] for wave in again)
    assert asyncio.run(uploaded_wave("wave-1")).vms == example_plan().wave("wave-1").vms


def test_a_changed_wave_replaces_its_scheduled_run(deployed: dict) -> None:
    plan = example_plan()
    before = {w["name"]: w["flow_run_id"] for w in asyncio.run(upload_plan(plan))}
    later = dataclasses.replace(plan.waves[1], start_at=plan.waves[1].start_at + timedelta(days=1))
    after = {w["name"]: w for w in asyncio.run(upload_plan(dataclasses.replace(plan, waves=(plan.waves[0], later))))}
    assert after["wave-1"]["flow_run_id"] == before["wave-1"]
    assert after["wave-2"]["created"] and after["wave-2"]["flow_run_id"] != before["wave-2"]
    assert asyncio.run(uploaded_wave("wave-2")).start_at == later.start_at

    async def old_run() -> None:
        async with get_client() as client:
            await client.read_flow_run(before["wave-2"])
    with pytest.raises(ObjectNotFound):
        asyncio.run(old_run())


def test_the_cutover_is_one_rest_call_with_the_servers_credentials(deployed: dict) -> None:
    asyncio.run(upload_plan(example_plan()))
    api, token = deployed["api_url"], base64.b64encode(deployed["auth_string"].encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    deployment = requests.get(f"{api}/deployments/name/cutover/cutover", headers=headers, timeout=10).json()
    body = {"parameters": {"wave": "wave-1", "vms": ["win-sql-01"], "skip_test_migration": False}}
    url = f"{api}/deployments/{deployment['id']}/create_flow_run"
    assert requests.post(url, json=body, timeout=10).status_code == 401
    created = requests.post(url, json=body, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["parameters"]["wave"] == "wave-1"


def _timed(plan, moved: timedelta | None):
    """The example plan with wave-2's cutover time moved (None: no cutover time at all)."""
    wave = plan.wave("wave-2")
    vms = tuple(dataclasses.replace(vm, cutover_at=vm.cutover_at + moved if moved is not None else None)
                for vm in wave.vms)
    return dataclasses.replace(plan, waves=(plan.waves[0], dataclasses.replace(wave, vms=vms)))


def test_a_timed_cutover_is_one_scheduled_run_that_a_new_time_moves(deployed: dict) -> None:
    async def scheduled_at(run_id: str):
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
        return run.state_type.value, run.state.state_details.scheduled_time, run.parameters, run.tags

    plan = example_plan()
    first = {w["name"]: w for w in asyncio.run(upload_plan(plan))}
    (cutover,) = first["wave-2"]["cutovers"]
    assert first["wave-1"]["cutovers"] == []
    state, at, parameters, tags = asyncio.run(scheduled_at(cutover["flow_run_id"]))
    assert (state, at) == ("SCHEDULED", plan.wave("wave-2").vms[0].cutover_at)
    assert parameters == {"wave": "wave-2", "vms": ["app-linux-01", "win-iis-03"]}  # the group, whole
    assert "vmshift-cutover:wave-2" in tags

    (again,) = asyncio.run(upload_plan(plan))[1]["cutovers"]
    assert again["flow_run_id"] == cutover["flow_run_id"] and not again["created"] and not again["moved"]

    (moved,) = asyncio.run(upload_plan(_timed(plan, timedelta(hours=2))))[1]["cutovers"]
    assert moved["flow_run_id"] == cutover["flow_run_id"] and moved["moved"]
    assert asyncio.run(scheduled_at(cutover["flow_run_id"]))[1] == plan.wave("wave-2").vms[0].cutover_at + \
        timedelta(hours=2)

    assert asyncio.run(upload_plan(_timed(plan, None)))[1]["cutovers"] == []
    with pytest.raises(ObjectNotFound):
        asyncio.run(scheduled_at(cutover["flow_run_id"]))
