"""Per-VM hooks, as the plan names them and the appliance declares them (vmshift.plan.hooks): a command, or a
Prefect deployment, run for a VM at a moment of its migration.

Only names travel in a plan or a flow run; what a name runs is read from the appliance's hooks file when the
hook runs, so neither an uploaded CSV nor an API call can make the appliance run a command of its choosing.
The hook gets the VM's facts: a command as JSON on stdin and VMSHIFT_HOOK_* variables (and nothing else of the
appliance's environment, which holds credentials), with no shell; a deployment as its `vm` parameter. A failing
pre-hook stops that VM's step; a failing post-hook is reported beside the VM's outcome.
"""

from __future__ import annotations

import asyncio
import json
import os

from vmshift.plan.hooks import HookCatalog, HookDeclaration
from vmshift.plan.schema import HookMoment, WavePlanRow

__all__ = ["HookFailed", "HookMoment", "declared_hook", "hook_facts", "run_command"]

OUTPUT_SHOWN = 2000  # characters of a command's output kept in its record (and quoted when it fails)


class HookFailed(RuntimeError):
    """A hook did not succeed; the message names the hook, the VM and what it said."""


def hook_facts(vm: WavePlanRow, moment: HookMoment) -> dict[str, str]:
    return {"moment": moment.value, "vm": vm.source_vm, "target_vm": vm.target_vm_name, "wave": vm.wave,
            "resource_group": vm.resource_group, "region": vm.region, "subscription": vm.target_subscription,
            "target_subnet": f"{vm.target_vnet}/{vm.target_subnet}", "application_group": vm.application_group or ""}


def declared_hook(name: str, moment: HookMoment, vm: WavePlanRow,
                  catalog: HookCatalog | None = None) -> HookDeclaration:
    """What `name` runs, as the appliance declares it now; HookFailed when it no longer does (the plan was
    checked against the file when it was uploaded, and an administrator may have changed it since)."""
    catalog = catalog or HookCatalog.from_env()
    if problem := catalog.problem(moment, name):
        raise HookFailed(f"{moment} hook {name!r} of {vm.source_vm} cannot run: {problem}")
    return catalog[name]


async def run_command(moment: HookMoment, hook: HookDeclaration, vm: WavePlanRow) -> str:
    """Run the hook's command for the VM, its facts on stdin; the end of what it printed, or HookFailed."""
    assert hook.command is not None
    facts = hook_facts(vm, moment)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
           **{f"VMSHIFT_HOOK_{key.upper()}": value for key, value in facts.items()}}
    try:
        process = await asyncio.create_subprocess_exec(
            *hook.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env)
    except OSError as error:
        raise HookFailed(f"{moment} hook {hook.name} for {vm.source_vm} could not start {hook.command[0]}: "
                         f"{error.strerror or error}") from None
    try:
        output, _ = await asyncio.wait_for(process.communicate(json.dumps(facts).encode()), hook.timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise HookFailed(f"{moment} hook {hook.name} for {vm.source_vm} ran longer than its {hook.timeout_s:g} s "
                         "and was stopped") from None
    text = output.decode(errors="replace")[-OUTPUT_SHOWN:].strip()
    if process.returncode != 0:
        raise HookFailed(f"{moment} hook {hook.name} for {vm.source_vm} exited with {process.returncode}: {text}")
    return text
