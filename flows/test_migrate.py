"""`test-migrate`: each chosen VM built from its latest recovery point into the wave's test VNet."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

from flows.appliance import Appliance
from flows.report import artifact_key, outcome_row
from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.hooks import HookMoment, run_hook
from tasks.replication import source_facts
from tasks.test_migration import run_test_migration
from vmshift.azure.vms import BuiltVm
from vmshift.plan.schema import Wave, WavePlanRow


@flow(name="test-migrate")
async def test_migrate(
    wave: Wave | str,
    vms: list[str] | None = None,
    appliance: Appliance | None = None,
    hooks: dict[HookMoment, str] | None = None,
) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: test-migrated | failed | skipped, test_vm, error}]}`."""
    wave = await resolve_wave(wave)
    appliance = appliance or Appliance.from_env()
    chosen = [vm for vm in select_vms(wave, vms) if vm.allow_test_migration]
    skipped = [outcome_row(vm.source_vm, "skipped", error="the plan says no test migration (OK_TO_TESTMIGRATE=N)")
               for vm in select_vms(wave, vms) if not vm.allow_test_migration]
    facts = await source_facts([vm.source_vm for vm in chosen], {})

    async def one(vm: WavePlanRow) -> BuiltVm:
        if hook := (hooks or {}).get(HookMoment.PRE_TEST_MIGRATION):
            await run_hook(HookMoment.PRE_TEST_MIGRATION, hook, vm)
        return await run_test_migration(vm, facts[vm.source_vm], appliance)

    def done(vm: WavePlanRow, built: BuiltVm) -> dict:
        return outcome_row(vm.source_vm, "test-migrated", test_vm=built.vm_name, resources=[built.vm_id, built.nic_id,
                                                                                            *built.disk_ids])

    rows = [*await side_by_side(chosen, one, done), *skipped]
    await acreate_markdown_artifact(_report(wave, rows), key=artifact_key("test-migration", wave.name),
                                    description=f"Test migration of wave {wave.name}")
    return {"wave": wave.name, "vms": rows}


def _report(wave: Wave | str, rows: list[dict]) -> str:
    lines = [f"# Test migration of wave {wave.name}", "", "| VM | outcome | test VM | resources created | error |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['vm']} | {r['outcome']} | {r.get('test_vm', '')} | {'<br>'.join(r.get('resources', []))} "
              f"| {r['error'] or ''} |" for r in rows]
    return "\n".join(lines)
