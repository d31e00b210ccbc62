"""Per-VM hooks before test migration, before cutover and after it: a command, or a deployment to run.

The hook gets the VM's facts: a command as JSON on stdin and VMSHIFT_HOOK_* variables (and nothing else of
the appliance's environment, which holds credentials); a deployment as its `vm` parameter. A failing pre-hook
stops that VM's step; a failing post-hook is reported beside the VM's outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from enum import StrEnum

from prefect import get_run_logger, task
from prefect.deployments import run_deployment

from vmshift.plan.schema import WavePlanRow

DEPLOYMENT_PREFIX = "deployment:"
OUTPUT_SHOWN = 2000  # characters of a failing command's output quoted in the error


class HookMoment(StrEnum):
    PRE_TEST_MIGRATION = "pre-test-migration"
    PRE_CUTOVER = "pre-cutover"
    POST_CUTOVER = "post-cutover"


class HookFailed(RuntimeError):
    """A hook did not succeed; the message names the hook, the VM and what it said."""


def hook_facts(vm: WavePlanRow, moment: HookMoment) -> dict[str, str]:
    return {"moment": moment.value, "vm": vm.source_vm, "target_vm": vm.target_vm_name, "wave": vm.wave,
            "resource_group": vm.resource_group, "region": vm.region,
            "target_subnet": f"{vm.target_vnet}/{vm.target_subnet}", "application_group": vm.application_group or ""}


@task(name="hook", task_run_name="{moment}-{vm.source_vm}")
async def run_hook(moment: HookMoment, hook: str, vm: WavePlanRow) -> None:
    """Run `hook` ("deployment:FLOW/DEPLOYMENT" or a command line) for the VM; raises HookFailed."""
    facts = hook_facts(vm, moment)
    if hook.startswith(DEPLOYMENT_PREFIX):
        name = hook.removeprefix(DEPLOYMENT_PREFIX)
        flow_run = await run_deployment(name, parameters={"vm": facts}, as_subflow=False)
        if flow_run.state is None or not flow_run.state.is_completed():
            raise HookFailed(f"{moment} hook deployment {name} for {vm.source_vm} ended "
                             f"{flow_run.state.name if flow_run.state else 'without a state'}")
        return
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
           **{f"VMSHIFT_HOOK_{key.upper()}": value for key, value in facts.items()}}
    process = await asyncio.create_subprocess_exec(
        *shlex.split(hook), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=env)
    output, _ = await process.communicate(json.dumps(facts).encode())
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise HookFailed(f"{moment} hook `{hook}` for {vm.source_vm} exited with {process.returncode}: "
                         f"{text[-OUTPUT_SHOWN:].strip()}")
    get_run_logger().info("%s hook for %s: %s", moment, vm.source_vm, text[-OUTPUT_SHOWN:].strip())
