"""`vmshift plan upload`: one scheduled run of `wave-replicate` per wave, at its start time, so the waves show
in the Prefect UI's schedule. Uploading the same plan twice creates nothing twice: each run carries an
idempotency key from the wave's name and content. A wave whose content changed gets a new run and its old
scheduled one is deleted, so that a wave never runs twice from two versions of the plan.

A VM (or an application group) with a cutover_at gets a scheduled run of `cutover` at that time, in the UI
beside its wave's; the gates apply when it starts, as for a cutover called through the API. Uploading the plan
with another time moves that run; unchanged, it stays as it is; a VM the plan no longer times loses it.

The uploaded run is also the record of the wave: the API-triggered flows (test-migrate, cutover, ...) are
called with a wave's name and read the wave from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Scheduled
from pydantic import TypeAdapter

from vmshift.plan.schema import Wave, WavePlan

WAVE_DEPLOYMENT = "migrate-wave/wave-replicate"
CUTOVER_DEPLOYMENT = "cutover/cutover"


class WaveNotUploaded(LookupError):
    """No uploaded run names this wave: upload the plan first."""


def wave_tag(name: str) -> str:
    return f"vmshift-wave:{name}"


def cutover_tag(wave: str) -> str:
    return f"vmshift-cutover:{wave}"


def idempotency_key(wave: Wave) -> str:
    """Same wave content → same key → Prefect returns the run it already has."""
    return f"vmshift-wave:{wave.name}:{wave.fingerprint()}"


def wave_parameter(wave: Wave) -> dict[str, Any]:
    """The wave as a JSON flow parameter (the flows validate it back into a Wave)."""
    return TypeAdapter(Wave).dump_python(wave, mode="json")


async def upload_plan(plan: WavePlan, deployment: str = WAVE_DEPLOYMENT,
                      cutover_deployment: str = CUTOVER_DEPLOYMENT) -> list[dict]:
    """Schedule each wave and its timed cutovers; returns `[{name, flow_run_id, start_at, created, cutovers}]`
    (created False: already there), each cutover `{vms, flow_run_id, cutover_at, created, moved}`."""
    scheduled: list[dict] = []
    async with get_client() as client:
        deployment_id = (await client.read_deployment_by_name(deployment)).id
        cutover_id = (await client.read_deployment_by_name(cutover_deployment)).id
        for wave in plan.waves:
            key = idempotency_key(wave)
            known = {old.idempotency_key for old in await _wave_runs(client, wave.name)}
            run = await client.create_flow_run_from_deployment(
                deployment_id, parameters={"wave": wave_parameter(wave)}, name=f"migrate-{wave.name}",
                state=Scheduled(scheduled_time=wave.start_at), tags=[wave_tag(wave.name)], idempotency_key=key)
            stale = [old for old in await _wave_runs(client, wave.name, StateType.SCHEDULED)
                     if old.id != run.id and old.idempotency_key != key]
            for old in stale:
                await client.delete_flow_run(old.id)
            scheduled.append({"name": wave.name, "flow_run_id": str(run.id), "start_at": wave.start_at.isoformat(),
                              "created": key not in known,
                              "cutovers": await _schedule_cutovers(client, cutover_id, wave)})
    return scheduled


async def _schedule_cutovers(client: Any, deployment_id: Any, wave: Wave) -> list[dict]:
    """One run of `cutover` per timed VM or group, keyed by wave and unit so that a new time moves the run
    already scheduled instead of adding one; scheduled runs of units the wave no longer times are deleted."""
    tag = cutover_tag(wave.name)
    before = {run.idempotency_key: run for run in await _runs(client, tag)}
    cutovers, keys = [], set()
    for unit, vms, at in wave.scheduled_cutovers():
        key = f"{tag}:{unit}"
        keys.add(key)
        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"wave": wave.name, "vms": list(vms)}, name=f"cutover-{wave.name}-{unit}",
            state=Scheduled(scheduled_time=at), tags=[tag], idempotency_key=key)
        moved = key in before and run.state_type is StateType.SCHEDULED and _when(run) != at
        if moved:
            await client.set_flow_run_state(run.id, Scheduled(scheduled_time=at), force=True)
        cutovers.append({"vms": list(vms), "flow_run_id": str(run.id), "cutover_at": at.isoformat(),
                         "created": key not in before, "moved": moved, "state": run.state_type.value})
    for key, run in before.items():
        if key not in keys and run.state_type is StateType.SCHEDULED:
            await client.delete_flow_run(run.id)
    return cutovers


def _when(run: FlowRun) -> datetime | None:
    return run.state.state_details.scheduled_time if run.state else run.expected_start_time


async def uploaded_wave(name: str) -> Wave:
    """The wave as its latest upload scheduled it."""
    async with get_client() as client:
        runs = await _wave_runs(client, name)
    if not runs:
        raise WaveNotUploaded(f"no uploaded wave named {name!r}: run `vmshift plan upload PLAN.csv` first")
    return TypeAdapter(Wave).validate_python(runs[0].parameters["wave"])


async def _wave_runs(client: Any, name: str, state: StateType | None = None) -> list[FlowRun]:
    return await _runs(client, wave_tag(name), state)


async def _runs(client: Any, tag: str, state: StateType | None = None) -> list[FlowRun]:
    filters = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
    if state is not None:
        filters.state = FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))
    return await client.read_flow_runs(flow_run_filter=filters, sort=FlowRunSort.EXPECTED_START_TIME_DESC)
