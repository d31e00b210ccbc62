"""Which VMs of a wave an API-triggered step acts on, and running them side by side without one failure
stopping the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from deployments.upload import uploaded_wave
from flows.report import outcome_row
from vmshift.plan.schema import Wave, WavePlanRow

T = TypeVar("T")


class UnknownVm(ValueError):
    """The call names a VM that is not in the wave."""


async def resolve_wave(wave: Wave | str) -> Wave:
    """API callers name an uploaded wave; flows started from Python may pass the wave itself."""
    return wave if isinstance(wave, Wave) else await uploaded_wave(wave)


def select_vms(wave: Wave, vms: Sequence[str] | None) -> list[WavePlanRow]:
    """The wave's rows for the named VMs (all of them when `vms` is empty), in plan order."""
    if not vms:
        return list(wave.vms)
    known = {vm.source_vm for vm in wave.vms}
    unknown = sorted(set(vms) - known)
    if unknown:
        raise UnknownVm(f"not in wave {wave.name}: {', '.join(unknown)}; its VMs: {', '.join(sorted(known))}")
    return [vm for vm in wave.vms if vm.source_vm in set(vms)]


async def side_by_side(
    vms: Sequence[WavePlanRow], step: Callable[[WavePlanRow], Awaitable[T]], done: Callable[[WavePlanRow, T], dict]
) -> list[dict]:
    """Runs `step` for every VM concurrently; each VM's outcome row, `failed` with the error for those that raised."""
    results = await asyncio.gather(*(step(vm) for vm in vms), return_exceptions=True)
    return [outcome_row(vm.source_vm, "failed", error=f"{type(result).__name__}: {result}")
            if isinstance(result, BaseException) else done(vm, result)
            for vm, result in zip(vms, results, strict=True)]


async def failures_of(keys: Sequence[str], step: Callable[[str], Awaitable[object]]) -> dict[str, BaseException]:
    """Runs `step` for every key concurrently; the error of each key whose step raised."""
    results = await asyncio.gather(*(step(key) for key in keys), return_exceptions=True)
    return {key: result for key, result in zip(keys, results, strict=True) if isinstance(result, BaseException)}
