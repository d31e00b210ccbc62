"""`cutover`, triggered through the API: gates, then each allowed VM cut over, with a markdown report.

Refused, with the reason, when a VM's last delta is older than the bound, its replication is failing, it was
never test-migrated (unless `skip_test_migration`), the call is outside the cutover window (or before the VM's
own cutover time, or in the appliance's blackout), or the plan says not to migrate it. An application group
cuts over together or not at all. A VM refused or failed whose source an earlier, unfinished run shut down
(it died, say) gets its source powered on again: never a source off with no target VM.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact

from flows.appliance import Appliance
from flows.report import artifact_key, outcome_row
from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.cutover import CutoverDone, cut_over, cutover_facts, restart_source_left_off
from tasks.hooks import HookFailed, HookMoment, run_hook
from tasks.replication import source_facts
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.readiness import CutoverPolicy, cutover_decisions
from vmshift.schedule import BlackoutWindow

SOURCE_RESTARTED = "its source, shut down by an earlier cutover run that did not finish, was powered on again"


@flow(name="cutover")
async def cutover(
    wave: Wave | str,
    vms: list[str] | None = None,
    skip_test_migration: bool = False,
    max_delta_age_minutes: float = 780,
    shutdown_timeout_s: float = 600,
    blackout_windows: list[str] | None = None,
    appliance: Appliance | None = None,
    hooks: dict[HookMoment, str] | None = None,
) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: migrated | refused | failed, downtime_s, verified, error}]}`."""
    wave = await resolve_wave(wave)
    appliance, hooks = appliance or Appliance.from_env(), hooks or {}
    chosen = select_vms(wave, vms)
    policy = CutoverPolicy(max_delta_age=timedelta(minutes=max_delta_age_minutes),
                           skip_test_migration=skip_test_migration,
                           blackouts={appliance.name: [BlackoutWindow.parse(w) for w in blackout_windows or ()]})
    decisions = cutover_decisions(await cutover_facts(wave, chosen, appliance), datetime.now(UTC), policy,
                                  groups=wave.application_groups())
    refused = [outcome_row(vm.source_vm, "refused", error="; ".join(decisions[vm.source_vm]))
               for vm in chosen if decisions[vm.source_vm]]
    for row in refused:
        get_run_logger().warning("cutover of %s refused: %s", row["vm"], row["error"])
    allowed = [vm for vm in chosen if not decisions[vm.source_vm]]
    facts = await source_facts([vm.source_vm for vm in allowed], {}) if allowed else {}

    async def one(vm: WavePlanRow) -> tuple[CutoverDone, str | None]:
        if hook := hooks.get(HookMoment.PRE_CUTOVER):
            await run_hook(HookMoment.PRE_CUTOVER, hook, vm)
        result = await cut_over(vm, facts[vm.source_vm], appliance, shutdown_timeout_s)
        if hook := hooks.get(HookMoment.POST_CUTOVER):
            try:
                await run_hook(HookMoment.POST_CUTOVER, hook, vm)
            except HookFailed as error:  # the VM is migrated: say so, and that its post-hook failed
                return result, str(error)
        return result, None

    def done(vm: WavePlanRow, outcome: tuple[CutoverDone, str | None]) -> dict:
        result, hook_error = outcome
        return outcome_row(vm.source_vm, "migrated", error=hook_error, target_vm_id=result.target_vm_id,
                           resources=list(result.resources), downtime_s=round(result.downtime_s, 1),
                           # a rerun that found the VM built compares nothing: not verified by this run
                           verified=bool(result.verifications) and all(equal for _, equal, _ in result.verifications),
                           disks=[{"key": key, "equal": equal, "bytes_compared": size}
                                  for key, equal, size in result.verifications])

    rows = [*await side_by_side(allowed, one, done), *refused]
    await _restart_sources_left_off(rows, chosen)
    await acreate_markdown_artifact(_report(wave, rows), key=artifact_key("cutover", wave.name),
                                    description=f"Cutover of wave {wave.name}")
    return {"wave": wave.name, "vms": rows}


async def _restart_sources_left_off(rows: list[dict], chosen: list[WavePlanRow]) -> None:
    """Never a source off with no target: an earlier cutover run may have shut a refused or failed VM's source
    down and been killed. Its row says when its source was powered on again, or could not be."""
    by_name = {vm.source_vm: vm for vm in chosen}
    left_off = [row for row in rows if row["outcome"] != "migrated"]
    restarts = await asyncio.gather(*(restart_source_left_off(by_name[row["vm"]]) for row in left_off),
                                    return_exceptions=True)
    for row, restarted in zip(left_off, restarts, strict=True):
        if isinstance(restarted, BaseException):
            row["error"] = (f"{row['error']}; its source may be off with no target VM, power it on: an earlier "
                            f"cutover run's shutdown could not be undone: {type(restarted).__name__}: {restarted}")
        elif restarted:
            row["error"] = f"{row['error']}; {SOURCE_RESTARTED}"
        if restarted:
            get_run_logger().warning("cutover of %s: %s", row["vm"], row["error"])


def _report(wave: Wave | str, rows: list[dict]) -> str:
    lines = [f"# Cutover of wave {wave.name}", "",
             "| VM | outcome | downtime (s, source shutdown → target VM created) | disks verified | resources | "
             "reason / error |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        disks = ", ".join(f"{d['key']}: {'equal' if d['equal'] else 'DIFFERENT'}" for d in r.get("disks", []))
        lines.append(f"| {r['vm']} | {r['outcome']} | {r.get('downtime_s', '')} | {disks} | "
                     f"{'<br>'.join(r.get('resources', []))} | {r['error'] or ''} |")
    return "\n".join(lines)
