"""Stage 1 of a wave: the cache account checked and reached through an approved private endpoint."""

from __future__ import annotations

import asyncio
import math
import os

from prefect import get_run_logger, task

from flows.appliance import Appliance
from tasks.retry import TRANSIENT_RETRY
from vmshift.azure.clients import connect
from vmshift.azure.endpoint import APPROVAL_WAIT_S, PrivateEndpointInfo, ensure_private_endpoint
from vmshift.azure.preflight import preflight_cache_account

APPROVAL_WAIT_ENV = "VMSHIFT_APPROVAL_WAIT_S"


@task(name="private-endpoint", tags=["azure"], **TRANSIENT_RETRY)
async def private_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    """Preflight the cache account, then create (or reuse) its blob endpoint and wait for the approval."""
    endpoint = await asyncio.to_thread(reach_endpoint, account_name, target_region, appliance)
    get_run_logger().info("private endpoint %s for %s is %s (%s approval), private IP %s", endpoint.name,
                          account_name, endpoint.status, endpoint.approval, endpoint.private_ip)
    return endpoint


def reach_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    approval_wait = approval_wait_s()  # a bad setting fails before anything is asked of Azure
    clients = connect()
    account = preflight_cache_account(clients, resource_group=appliance.migration_resource_group,
                                      account_name=account_name, target_region=target_region)
    return ensure_private_endpoint(clients, account, resource_group=appliance.migration_resource_group,
                                   subnet_id=appliance.endpoint_subnet_id(clients.config.subscription_id),
                                   approval_timeout_s=approval_wait)


def approval_wait_s() -> float:
    """Seconds a wave waits for the account owner to approve a manual endpoint: `VMSHIFT_APPROVAL_WAIT_S`,
    else an hour; read when the task runs, so a worker's environment decides, as for the other settings."""
    raw = os.environ.get(APPROVAL_WAIT_ENV, "").strip()
    if not raw:
        return APPROVAL_WAIT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"{APPROVAL_WAIT_ENV}={raw!r}: the seconds to wait for a private endpoint's approval, a "
                         f"number >= 0 (unset: {APPROVAL_WAIT_S:g})")
    return seconds
