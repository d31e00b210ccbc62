"""`vmshift plan upload`: one scheduled run of `wave-replicate` per wave, at its start time, so the waves show
in the Prefect UI's schedule. Uploading the same plan twice creates nothing twice: each run carries an
idempotency key from the wave's name and content. A wave whose content changed gets a new run and its old
scheduled one is deleted, so that a wave never runs twice from two versions of the plan.

The uploaded run is also the record of the wave: the API-triggered flows (test-migrate, cutover, ...) are
called with a wave's name and read the wave from it.
"""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Scheduled
from pydantic import TypeAdapter

from vmshift.plan.schema import Wave, WavePlan

WAVE_DEPLOYMENT = "migrate-wave/wave-replicate"


class WaveNotUploaded(LookupError):
    """No uploaded run names this wave: upload the plan first."""


def wave_tag(name: str) -> str:
    return f"vmshift-wave:{name}"


def idempotency_key(wave: Wave) -> str:
    """Same wave content → same key → Prefect returns the run it already has."""
    return f"vmshift-wave:{wave.name}:{wave.fingerprint()}"


def wave_parameter(wave: Wave) -> dict[str, Any]:
    """The wave as a JSON flow parameter (the flows validate it back into a Wave)."""
    return TypeAdapter(Wave).dump_python(wave, mode="json")


async def upload_plan(plan: WavePlan, deployment: str = WAVE_DEPLOYMENT) -> list[dict]:
    """Schedule each wave; returns `[{name, flow_run_id, start_at, created}]` (created False: already there)."""
    scheduled: list[dict] = []
    async with get_client() as client:
        deployment_id = (await client.read_deployment_by_name(deployment)).id
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
                              "created": key not in known})
    return scheduled


async def uploaded_wave(name: str) -> Wave:
    """The wave as its latest upload scheduled it."""
    async with get_client() as client:
        runs = await _wave_runs(client, name)
    if not runs:
        raise WaveNotUploaded(f"no uploaded wave named {name!r}: run `vmshift plan upload PLAN.csv` first")
    return TypeAdapter(Wave).validate_python(runs[0].parameters["wave"])


async def _wave_runs(client: Any, name: str, state: StateType | None = None) -> list[FlowRun]:
    filters = FlowRunFilter(tags=FlowRunFilterTags(all_=[wave_tag(name)]))
    if state is not None:
        filters.state = FlowRunFilterState(type=FlowRunFilterStateType(any_=[state]))
    return await client.read_flow_runs(flow_run_filter=filters, sort=FlowRunSort.EXPECTED_START_TIME_DESC)
