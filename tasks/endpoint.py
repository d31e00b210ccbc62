"""Stage 1 of a wave: the cache account checked and reached through an approved private endpoint."""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task

from tasks.retry import TRANSIENT_RETRY
from vmshift.azure.endpoint import PrivateEndpointInfo
from vmshift.migration import private_link
from vmshift.migration.appliance import Appliance


@task(name="private-endpoint", tags=["azure"], **TRANSIENT_RETRY)
async def private_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    """Preflight the cache account, then create (or reuse) its blob endpoint and wait for the approval."""
    endpoint = await asyncio.to_thread(private_link.reach_endpoint, account_name, target_region, appliance)
    get_run_logger().info("private endpoint %s for %s is %s (%s approval), private IP %s", endpoint.name,
                          account_name, endpoint.status, endpoint.approval, endpoint.private_ip)
    return endpoint
