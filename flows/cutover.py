"""`cutover`, triggered through the API: gates, then each allowed VM cut over, its disks verified once it runs,
with a markdown report.

The VM's disks are staged from the latest recovery point before the shutdown. The outage holds the shutdown, the
final delta and a read-back of its ranges only (which writes them into the staged disks), the staged disks sealed
(a disk too small to upload, or a prepared OS disk, imported), frozen copies of the disks and the VM's creation;
the report breaks the downtime down by these steps. Once the VM exists, its
disks are proven whole against the manifests in a `verify-cutover` run of their own; a disk that differs fails
the run (the VM is left running), and complete-migration refuses the VM until a verification passed.

Refused, with the reason, when a VM's last delta is older than the bound, its replication is failing, it was
never test-migrated (unless `skip_test_migration`), the call is outside the cutover window (or before the VM's
own cutover time, or in the appliance's blackout), or the plan says not to migrate it. An application group
cuts over together or not at all. A VM refused or failed whose source an earlier, unfinished run shut down
(it died, say) gets its source powered on again: never a source off with no target VM.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from prefect import State, flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import Failed

from flows.selection import closed_gates, resolve_wave, select_vms, side_by_side
from flows.verify_cutover import verify_cutover
from tasks.access import permissions
from tasks.cutover import cut_over, cutover_facts, restart_source_left_off
from tasks.hooks import run_hooks
from tasks.replication import source_facts
from vmshift.migration.appliance import Appliance
from vmshift.migration.cutover import CutoverDone
from vmshift.migration.hooks import HookFailed, HookMoment
from vmshift.migration.preparation import preparation_report, preparation_summary
from vmshift.migration.readiness import CutoverPolicy, cutover_decisions
from vmshift.migration.report import artifact_key, cutover_markdown, outcome_row
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.schedule import BlackoutWindow
from vmshift.state.document import VERIFICATION_FAILED, VERIFICATION_PENDING
from vmshift.steps import MigrationStep

VERIFICATION_KEYS = ("verification", "post_verify_bytes", "post_verify_s", "disks")  # a VM's row takes these

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
) -> dict | State:
    """Returns `{"wave", "vms": [{vm, outcome: migrated | refused | failed, downtime_s, steps, verification,
    post_verify_bytes, post_verify_s, disks, error}]}`; the run fails when a migrated VM's disks differ."""
    wave = await resolve_wave(wave)
    appliance = appliance or Appliance.from_env()
    chosen = select_vms(wave, vms)
    policy = CutoverPolicy(max_delta_age=timedelta(minutes=max_delta_age_minutes),
                           skip_test_migration=skip_test_migration,
                           blackouts={appliance.name: [BlackoutWindow.parse(w) for w in blackout_windows or ()]})
    await permissions(MigrationStep.CUTOVER, chosen, appliance)  # a bad parameter is refused before any call
    gates = await closed_gates(chosen, appliance, "the final delta")
    gated = [dataclasses.replace(one, closed_gate=gates.get(one.vm))
             for one in await cutover_facts(wave, chosen, appliance)]
    decisions = cutover_decisions(gated, datetime.now(UTC), policy, groups=wave.application_groups())
    refused = [outcome_row(vm.source_vm, "refused", error="; ".join(decisions[vm.source_vm]))
               for vm in chosen if decisions[vm.source_vm]]
    for row in refused:
        get_run_logger().warning("cutover of %s refused: %s", row["vm"], row["error"])
    allowed = [vm for vm in chosen if not decisions[vm.source_vm]]
    facts = await source_facts([vm.source_vm for vm in allowed], {},
                               {vm.source_vm: vm.vcenter for vm in allowed}) if allowed else {}

    async def one(vm: WavePlanRow) -> tuple[CutoverDone, str | None, dict]:
        await run_hooks(HookMoment.PRE_CUTOVER, vm)
        result = await cut_over(vm, facts[vm.source_vm], appliance, shutdown_timeout_s)
        hook_error = None
        try:
            await run_hooks(HookMoment.POST_CUTOVER, vm)
        except HookFailed as error:  # the VM is migrated: say so, and that its post-hook failed
            hook_error = str(error)
        # The VM runs: its disks are proven in a run of their own, from the frozen copies the outage took.
        verified = await verify_cutover(wave, [vm.source_vm], return_state=True)
        proven = await verified.aresult(raise_on_failure=False)
        if isinstance(proven, BaseException):  # the VM is migrated all the same: say the proof is to finish
            return result, hook_error, {"verification": VERIFICATION_PENDING, "error": f"the verification of its "
                                        f"disks stopped ({type(proven).__name__}: {proven}): run verify-cutover "
                                        "for it again"}
        return result, hook_error, proven["vms"][0]

    prepared: dict[str, list[str]] = {}

    def done(vm: WavePlanRow, outcome: tuple[CutoverDone, str | None, dict]) -> dict:
        result, hook_error, proof = outcome
        if result.preparation is not None:
            prepared[vm.source_vm] = preparation_report(vm.source_vm, result.preparation)
        record = result.record
        return outcome_row(vm.source_vm, "migrated", error="; ".join(filter(None, (hook_error, proof["error"])))
                           or None, target_vm_id=result.target_vm_id, resources=list(result.resources),
                           downtime_s=record.downtime_s if record else None,
                           steps=[step.model_dump() for step in record.steps] if record else [],
                           staging=record.staging.model_dump() if record and record.staging else None,
                           preparation=preparation_summary(result.preparation),
                           **{key: proof.get(key) for key in VERIFICATION_KEYS})

    rows = [*await side_by_side(allowed, one, done), *refused]
    await _restart_sources_left_off(rows, chosen)
    await acreate_markdown_artifact(_report(wave.name, rows, prepared), key=artifact_key("cutover", wave.name),
                                    description=f"Cutover of wave {wave.name}")
    result = {"wave": wave.name, "vms": rows}
    wrong = [row for row in rows if row.get("verification") == VERIFICATION_FAILED]
    if wrong:  # the VMs run, on disks that differ: the run says so, and fails
        return Failed(message="; ".join(row["error"] for row in wrong), data=result)
    return result


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


def _report(wave: str, rows: list[dict], prepared: dict[str, list[str]]) -> str:
    """The cutover report (its downtime steps show OS preparation's share), then each VM's preparation: every
    change, which the verification proves the OS disk to hold beside the source's bytes."""
    lines = [cutover_markdown(wave, rows)]
    if prepared:
        lines += ["", "## OS preparation", "", *[line for vm in prepared.values() for line in vm]]
    return "\n".join(lines)
