"""Stage 2 of a wave: private DNS for the endpoint, then the gate that nothing replicates before it passes."""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task

from tasks.retry import TRANSIENT_RETRY
from vmshift.azure.dns_gate import GateResult
from vmshift.azure.endpoint import PrivateEndpointInfo
from vmshift.azure.private_dns import PrivateDnsSetup
from vmshift.migration import private_link
from vmshift.migration.appliance import Appliance


@task(name="private-dns", tags=["azure"], **TRANSIENT_RETRY)
async def private_dns(endpoint: PrivateEndpointInfo, appliance: Appliance) -> PrivateDnsSetup:
    """The privatelink zone, its link to the appliance's VNet and the endpoint's zone group."""
    return await asyncio.to_thread(private_link.setup_private_dns, endpoint, appliance)


# Not retried by Prefect: a failing gate is a DNS configuration to fix, and its message says how.
@task(name="dns-gate", tags=["azure"])
async def dns_gate(account_name: str, endpoint: PrivateEndpointInfo, appliance: Appliance) -> GateResult:
    """The blob FQDN must resolve, from the appliance, to the endpoint's private IP (raises DnsGateFailed)."""
    result = await asyncio.to_thread(private_link.check_gate, account_name, endpoint, appliance)
    get_run_logger().info("DNS gate for %s passed: %s", account_name, result.message)
    return result


# Not retried either: between cycles the gate decides whether the replication of its account pauses.
@task(name="dns-gate-between-cycles", tags=["azure"])
async def gate_between_cycles(account_name: str, appliance: Appliance) -> GateResult:
    """The gate again before a delta pass, on the endpoint the wave created (raises DnsGateFailed)."""
    return await asyncio.to_thread(private_link.check_existing_gate, account_name, appliance)
