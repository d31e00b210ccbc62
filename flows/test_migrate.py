"""`test-migrate`: each chosen VM built from its latest recovery point into the wave's test VNet."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from flows.selection import closed_gates, resolve_wave, select_vms, side_by_side
from tasks.access import permissions
from tasks.hooks import run_hooks
from tasks.replication import source_facts
from tasks.test_migration import run_test_migration
from vmshift.migration.appliance import Appliance
from vmshift.migration.hooks import HookFailed, HookMoment
from vmshift.migration.preparation import preparation_report, preparation_summary
from vmshift.migration.report import artifact_key, outcome_row
from vmshift.migration.target import BuiltTestVm
from vmshift.plan.recovery_point import parse_recovery_point
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.state import lifecycle
from vmshift.steps import MigrationStep


@flow(name="test-migrate")
async def test_migrate(
    wave: Wave | str,
    vms: list[str] | None = None,
    appliance: Appliance | None = None,
    recovery_point: str | None = None,
) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: test-migrated | failed | refused | skipped, test_vm,
    recovery_point, error}]}`. `recovery_point`: `latest` (the default), a cycle (`cycle:12` or `12`) or an ISO
    8601 time with a zone (the last point whose source snapshot was taken by then), for every VM chosen."""
    point = parse_recovery_point(recovery_point)  # written wrong: the run fails before anything is asked
    wave = await resolve_wave(wave)
    appliance = appliance or Appliance.from_env()
    chosen = [vm for vm in select_vms(wave, vms) if vm.allow_test_migration]
    await permissions(MigrationStep.TEST_MIGRATION, chosen, appliance)
    not_built = [outcome_row(vm.source_vm, "skipped", error="the plan says no test migration (OK_TO_TESTMIGRATE=N)")
               for vm in select_vms(wave, vms) if not vm.allow_test_migration]
    # OS preparation writes the OS disk's prepared copy beside the replica; without it the step only reads there.
    gates = await closed_gates([vm for vm in chosen if vm.prepare_os], appliance, "OS preparation")
    not_built += [outcome_row(vm, "refused", error=closed) for vm, closed in gates.items()]
    chosen = [vm for vm in chosen if vm.source_vm not in gates]
    facts = await source_facts([vm.source_vm for vm in chosen], {},
                               {vm.source_vm: vm.vcenter for vm in chosen}) if chosen else {}

    async def one(vm: WavePlanRow) -> tuple[BuiltTestVm, str | None]:
        await run_hooks(HookMoment.PRE_TEST_MIGRATION, vm)
        test = await run_test_migration(vm, facts[vm.source_vm], appliance, point)
        try:
            await run_hooks(HookMoment.POST_TEST_MIGRATION, vm)
        except HookFailed as error:  # the test VM is built: say so, and that its post-hook failed
            return test, str(error)
        return test, None

    prepared: dict[str, list[str]] = {}

    def done(vm: WavePlanRow, outcome: tuple[BuiltTestVm, str | None]) -> dict:
        test, hook_error = outcome
        prepared[vm.source_vm] = preparation_report(vm.source_vm, test.preparation)
        check = test.check
        return outcome_row(vm.source_vm, "test-migrated", error=hook_error, test_vm=test.built.vm_name,
                           recovery_point=test.recovery_point,
                           resources=list(test.built.resources), preparation=preparation_summary(test.preparation),
                           check={"provisioning_state": check.provisioning_state, "power_state": check.power_state,
                                  "nics": [{"nic": nic.nic_id.rsplit("/", 1)[1], "subnet": nic.subnet_id, "ip": nic.ip}
                                           for nic in check.nics]})

    rows = [*await side_by_side(chosen, one, done, asks=lifecycle.Step.TEST_MIGRATE), *not_built]
    await acreate_markdown_artifact(_report(wave, rows, prepared), key=artifact_key("test-migration", wave.name),
                                    description=f"Test migration of wave {wave.name}")
    return {"wave": wave.name, "vms": rows}


def _report(wave: Wave | str, rows: list[dict], prepared: dict[str, list[str]]) -> str:
    lines = [f"# Test migration of wave {wave.name}", "",
             "| VM | outcome | test VM | recovery point | read back | NICs (subnet, IP) | resources created | error |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        check = r.get("check") or {}
        state = f"{check['provisioning_state']}, {check['power_state']}" if check else ""
        nics = "<br>".join(f"{n['nic']}: {(n['subnet'] or '').rsplit('/', 1)[-1]} {n['ip']}"
                           for n in check.get("nics", []))
        point = f"cycle {r['recovery_point']}" if r.get("recovery_point") is not None else ""
        lines.append(f"| {r['vm']} | {r['outcome']} | {r.get('test_vm', '')} | {point} | {state} | {nics} "
                     f"| {'<br>'.join(r.get('resources', []))} | {r['error'] or ''} |")
    if prepared:
        lines += ["", "## OS preparation", "", *[line for vm in prepared.values() for line in vm]]
    return "\n".join(lines)
