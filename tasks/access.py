"""The first task of every flow: what vCenter and Azure would refuse its step, asked before it touches anything."""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task

from vmshift.migration import access
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import WavePlanRow
from vmshift.steps import MigrationStep


# Not retried: a missing privilege or action stays missing until someone grants it.
@task(name="permissions", tags=["azure", "vcenter"])
async def permissions(
    step: MigrationStep, rows: list[WavePlanRow], appliance: Appliance, vms: dict[str, str | None] | None = None
) -> None:
    """Raises AccessMissing naming every privilege and action the step needs for these VMs (`vms`: besides the
    rows', each with its vCenter) and lacks."""
    await asyncio.to_thread(access.check_access, step, appliance, rows, vms)
    get_run_logger().info("vCenter and Azure allow what %s needs for %d VM(s)", step,
                          len({*(row.source_vm for row in rows), *(vms or ())}))
