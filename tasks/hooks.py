"""Per-VM hooks (vmshift/migration/hooks.py) as tasks of the step they belong to: one task run per hook, named
after it, holding what it printed."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.deployments import run_deployment

from vmshift.migration import hooks
from vmshift.migration.hooks import HookFailed, HookMoment
from vmshift.plan.schema import WavePlanRow


@task(name="hook", task_run_name="{moment}-{name}-{vm.source_vm}")
async def run_hook(moment: HookMoment, name: str, vm: WavePlanRow) -> str:
    """Run the appliance's hook `name` for the VM; what it printed (a deployment: its run's state), or
    HookFailed."""
    hook = hooks.declared_hook(name, moment, vm)
    if hook.deployment:
        flow_run = await run_deployment(hook.deployment, parameters={"vm": hooks.hook_facts(vm, moment)},
                                        as_subflow=False, timeout=hook.timeout_s)
        if flow_run.state is None or not flow_run.state.is_completed():
            raise HookFailed(f"{moment} hook {name} (deployment {hook.deployment}) for {vm.source_vm} ended "
                             f"{flow_run.state.name if flow_run.state else 'without a state'}")
        record = f"deployment {hook.deployment}: flow run {flow_run.id} {flow_run.state.name}"
    else:
        record = await hooks.run_command(moment, hook, vm)
    get_run_logger().info("%s hook %s for %s: %s", moment, name, vm.source_vm, record)
    return record


async def run_hooks(moment: HookMoment, vm: WavePlanRow) -> None:
    """The VM's hooks at `moment`, in the plan's order; the first that fails stops the rest."""
    for name in vm.hooks_at(moment):
        await run_hook(moment, name, vm)
