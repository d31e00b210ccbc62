"""Which VMs of a wave an API-triggered step acts on, running them side by side without one failure stopping the
others, as their lifecycles allow, and each VM's lifecycle artifact."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from prefect.artifacts import acreate_markdown_artifact

from deployments.upload import uploaded_wave
from tasks.dns import gate_between_cycles
from tasks.lifecycle import history, refusals
from tasks.slots import serially, threads_for_vms
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import artifact_key, outcome_row
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.state.lifecycle import LifecycleRefused, Step

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
    vms: Sequence[WavePlanRow], step: Callable[[WavePlanRow], Awaitable[T]], done: Callable[[WavePlanRow, T], dict],
    asks: Step | None = None,
) -> list[dict]:
    """Runs `step` for every VM concurrently, with a thread each for their blocking calls; each VM's outcome row,
    `failed` with the error for those that raised. A VM whose phase refuses the lifecycle step it `asks` for is
    `refused`, with why and what to do instead, and not run. Each VM's lifecycle artifact is brought up to date."""
    refused = await refusals(vms, asks) if asks is not None and vms else {}
    allowed = [vm for vm in vms if vm.source_vm not in refused]
    threads_for_vms(len(allowed))
    ran = await asyncio.gather(*(step(vm) for vm in allowed), return_exceptions=True)
    results = dict(zip([vm.source_vm for vm in allowed], ran, strict=True))
    await asyncio.gather(*(publish_history(vm.source_vm, vm.cache_storage_account) for vm in vms))

    def row(vm: WavePlanRow) -> dict:
        if vm.source_vm in refused:
            return outcome_row(vm.source_vm, "refused", error=refused[vm.source_vm])
        result = results[vm.source_vm]
        if isinstance(result, LifecycleRefused):  # its phase moved between the check and the step's own
            return outcome_row(vm.source_vm, "refused", error=str(result))
        if isinstance(result, BaseException):
            return outcome_row(vm.source_vm, "failed", error=f"{type(result).__name__}: {result}")
        return done(vm, result)
    return [row(vm) for vm in vms]


async def closed_gates(vms: Sequence[WavePlanRow], appliance: Appliance, what: str) -> dict[str, str]:
    """Each VM whose cache account's DNS gate is closed, with why: a step whose `what` writes to a cache account
    refuses those VMs, before anything else, since the writes would not go through the private endpoint."""
    accounts = sorted({vm.cache_storage_account for vm in vms})
    closed = await failures_of(accounts, lambda account: gate_between_cycles(account, appliance))
    return {vm.source_vm: f"the DNS gate of {vm.cache_storage_account} is closed, and {what} writes to it: "
            f"{closed[vm.cache_storage_account]}" for vm in vms if vm.cache_storage_account in closed}


async def publish_history(vm: str, cache_account: str) -> None:
    """The VM's phase and every change of it, as its artifact `lifecycle-<vm>`."""
    await serially(acreate_markdown_artifact(await history(vm, cache_account), key=artifact_key("lifecycle", vm),
                                             description=f"{vm}: its phase and every change of it"))


async def failures_of(keys: Sequence[str], step: Callable[[str], Awaitable[object]]) -> dict[str, BaseException]:
    """Runs `step` for every key concurrently; the error of each key whose step raised."""
    results = await asyncio.gather(*(step(key) for key in keys), return_exceptions=True)
    return {key: result for key, result in zip(keys, results, strict=True) if isinstance(result, BaseException)}
