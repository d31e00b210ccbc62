"""Stage 1 of a wave: the cache account checked and reached through an approved private endpoint."""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task

from flows.appliance import Appliance
from tasks.retry import TRANSIENT_RETRY
from vmshift.azure.clients import connect
from vmshift.azure.endpoint import PrivateEndpointInfo, ensure_private_endpoint
from vmshift.azure.preflight import preflight_cache_account


@task(name="private-endpoint", tags=["azure"], **TRANSIENT_RETRY)
async def private_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    """Preflight the cache account, then create (or reuse) its blob endpoint and wait for the approval."""
    endpoint = await asyncio.to_thread(reach_endpoint, account_name, target_region, appliance)
    get_run_logger().info("private endpoint %s for %s is %s (%s approval), private IP %s", endpoint.name,
                          account_name, endpoint.status, endpoint.approval, endpoint.private_ip)
    return endpoint


def reach_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    clients = connect()
    account = preflight_cache_account(clients, resource_group=appliance.migration_resource_group,
                                      account_name=account_name, target_region=target_region)
    return ensure_private_endpoint(clients, account, resource_group=appliance.migration_resource_group,
                                   subnet_id=appliance.endpoint_subnet_id(clients.config.subscription_id))
