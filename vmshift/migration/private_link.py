"""A cache storage account reached privately from the appliance: its private endpoint (approved), the private DNS
zone linked to the appliance's VNet, and the DNS gate that nothing replicates before it passes."""

from __future__ import annotations

import math
import os

from vmshift.azure.clients import AzureClients, connect
from vmshift.azure.dns_gate import GateResult, check_dns_gate, dns_servers_from_env
from vmshift.azure.endpoint import (
    APPROVAL_WAIT_S,
    PrivateEndpointInfo,
    ensure_private_endpoint,
    existing_private_endpoint,
)
from vmshift.azure.preflight import preflight_cache_account
from vmshift.azure.private_dns import PrivateDnsSetup, ensure_private_dns, zone_view
from vmshift.migration.appliance import Appliance

APPROVAL_WAIT_ENV = "VMSHIFT_APPROVAL_WAIT_S"


def reach_endpoint(account_name: str, target_region: str, appliance: Appliance) -> PrivateEndpointInfo:
    """Preflight the cache account, then create (or reuse) its blob endpoint and wait for the approval."""
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


def setup_private_dns(endpoint: PrivateEndpointInfo, appliance: Appliance) -> PrivateDnsSetup:
    """The privatelink zone, its link to the appliance's VNet and the endpoint's zone group."""
    clients = connect()
    return ensure_private_dns(clients, endpoint, zone_resource_group=appliance.network_resource_group,
                              vnet_id=appliance.vnet_id(clients.config.subscription_id))


def check_gate(
    account_name: str, endpoint: PrivateEndpointInfo, appliance: Appliance, clients: AzureClients | None = None
) -> GateResult:
    """The blob FQDN must resolve, from the appliance, to the endpoint's private IP (raises DnsGateFailed)."""
    clients = clients or connect()
    zone = zone_view(clients, zone_resource_group=appliance.network_resource_group,
                     vnet_id=appliance.vnet_id(clients.config.subscription_id), account_name=account_name)
    return check_dns_gate(account_name, endpoint.private_ip, zone=zone, servers=dns_servers_from_env())


def check_existing_gate(account_name: str, appliance: Appliance) -> GateResult:
    """The gate again before a delta pass, on the endpoint the wave created."""
    clients = connect()
    endpoint = existing_private_endpoint(clients, appliance.migration_resource_group, account_name)
    return check_gate(account_name, endpoint, appliance, clients)
