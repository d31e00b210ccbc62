"""The private endpoint for the cache account's blob subresource, and the wait for its approval."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id
from azure.mgmt.network.models import PrivateEndpoint, VirtualNetwork
from azure.mgmt.storage.models import StorageAccount

from vmshift.azure.built import ENDPOINT_CLEAN_UP, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import (
    ApprovalTimedOut,
    DnsGateFailed,
    PreflightFailed,
    PrivateEndpointConflict,
    PrivateEndpointRejected,
)
from vmshift.azure.preflight import PRIVATE_LINK_KIND

log = logging.getLogger(__name__)

BLOB_SUBRESOURCE = "blob"
APPROVAL_WAIT_S = 3600.0  # how long a manual approval is waited for unless the caller says otherwise
ENDPOINT_MISSING = "endpoint-missing"  # the DNS gate's reason when the account has no endpoint to check against
# Azure answers an automatically approved connection request from a caller without the approval
# right on the target resource with one of these; the request must then go the manual way.
_NOT_ALLOWED_TO_APPROVE = {"LinkedAuthorizationFailed", "AuthorizationFailed"}
APPROVAL_ACTION = "Microsoft.Storage/storageAccounts/privateEndpointConnectionsApproval/action"


@dataclass(frozen=True)
class PrivateEndpointInfo:
    """What the DNS steps and the gate need to know about the endpoint."""

    id: str
    name: str
    account_id: str
    status: str
    approval: str  # "automatic" or "manual"
    nic_id: str
    private_ip: str


def private_endpoint_name(account_name: str) -> str:
    """One endpoint per account and subresource, so the name is derived, never chosen per run."""
    return f"pe-{account_name}-{BLOB_SUBRESOURCE}"


def ensure_private_endpoint(
    clients: AzureClients,
    account: StorageAccount,
    *,
    subnet_id: str,
    resource_group: str,
    appliance_vnet_id: str | None = None,
    approval_timeout_s: float = APPROVAL_WAIT_S,
    poll_interval_s: float = 15.0,
    tags: dict[str, str] | None = None,
) -> PrivateEndpointInfo:
    """The approved endpoint in the appliance's (or a peered) VNet: created once, then reused.

    With `appliance_vnet_id`, a subnet in a VNet the appliance cannot reach (neither its own nor one
    connected to it by peering) is refused before anything is created. Asks for automatic approval
    first; a caller who may not approve on the account gets a manual request, and this waits (at
    most `approval_timeout_s`) for the account's owner to approve it.
    """
    if account["kind"] != PRIVATE_LINK_KIND:
        raise PreflightFailed(
            account.name,
            [f"kind is {account['kind']}: a private endpoint for blob needs a general-purpose v2 account (StorageV2)"],
        )
    name = private_endpoint_name(account.name)
    endpoint = _existing(clients, resource_group, name)
    if endpoint is None:
        location = _subnet_location(clients, subnet_id)
        if appliance_vnet_id:
            _check_reachable(clients, subnet_id, appliance_vnet_id)
        endpoint = _create(clients, account, name, resource_group, location, subnet_id, tags or {})
    elif (_connection(endpoint)[0].properties.private_link_service_id or "").lower() != account.id.lower():
        raise PrivateEndpointConflict(
            f"private endpoint {name} in {resource_group} already exists for another resource "
            f"({_connection(endpoint)[0].properties.private_link_service_id}); delete it or rename the account"
        )
    with naming_what_exists(f"private endpoint {name} of storage account {account.name}",
                            [endpoint.id, *_nic_ids(endpoint)], ENDPOINT_CLEAN_UP):
        endpoint = _wait_for_approval(clients, endpoint, account.name, resource_group, approval_timeout_s,
                                      poll_interval_s)
        return _info(clients, endpoint)


def existing_private_endpoint(clients: AzureClients, resource_group: str, account_name: str) -> PrivateEndpointInfo:
    """The account's endpoint as vmshift created it, for checks between cycles that must create nothing."""
    endpoint = _existing(clients, resource_group, private_endpoint_name(account_name))
    if endpoint is None:
        raise DnsGateFailed(
            ENDPOINT_MISSING,
            f"storage account {account_name} has no vmshift private endpoint {private_endpoint_name(account_name)} "
            f"in {resource_group}: run the wave's migrate-wave flow again to create it (and its private DNS), "
            "then the delta sync resumes",
        )
    return _info(clients, endpoint)


def _existing(clients: AzureClients, resource_group: str, name: str) -> PrivateEndpoint | None:
    try:
        return clients.network.private_endpoints.get(resource_group, name)
    except ResourceNotFoundError:
        return None


def _subnet_location(clients: AzureClients, subnet_id: str) -> str:
    parts = parse_resource_id(subnet_id)
    try:
        vnet = clients.network.virtual_networks.get(parts["resource_group"], parts["name"])
        clients.network.subnets.get(parts["resource_group"], parts["name"], parts["child_name_1"])
    except ResourceNotFoundError as error:
        raise PrivateEndpointConflict(
            f"subnet {subnet_id} does not exist: the endpoint goes in the appliance's VNet or one peered with it"
        ) from error
    return vnet.location


def vnet_of(subnet_id: str) -> str:
    return subnet_id.rsplit("/subnets/", 1)[0]


def reaches(appliance_vnet: VirtualNetwork, vnet_id: str) -> bool:
    """The appliance reaches a VNet that is its own or connected to it by a peering."""
    if appliance_vnet.id.lower() == vnet_id.lower():
        return True
    return any(
        (peering.properties.remote_virtual_network.id or "").lower() == vnet_id.lower()
        and peering.properties.peering_state == "Connected"
        for peering in appliance_vnet.properties.virtual_network_peerings or []
    )


def _check_reachable(clients: AzureClients, subnet_id: str, appliance_vnet_id: str) -> None:
    parts = parse_resource_id(appliance_vnet_id)
    appliance_vnet = clients.network.virtual_networks.get(parts["resource_group"], parts["name"])
    if not reaches(appliance_vnet, vnet_of(subnet_id)):
        raise PrivateEndpointConflict(
            f"subnet {subnet_id} is in a VNet the appliance's VNet {parts['name']} neither is nor is peered "
            "with (peering state Connected): the appliance could not reach the endpoint; put it in "
            f"{parts['name']} or peer the VNets"
        )


def _create(
    clients: AzureClients,
    account: StorageAccount,
    name: str,
    resource_group: str,
    location: str,
    subnet_id: str,
    tags: dict[str, str],
) -> PrivateEndpoint:
    connection = {
        "name": name,
        "properties": {"privateLinkServiceId": account.id, "groupIds": [BLOB_SUBRESOURCE]},
    }
    body: dict = {
        "location": location,
        "tags": tags,
        "properties": {"subnet": {"id": subnet_id}, "privateLinkServiceConnections": [connection]},
    }
    try:
        return clients.network.private_endpoints.begin_create_or_update(resource_group, name, body).result()
    except HttpResponseError as error:
        # Only the approval may go the manual way; a refusal of anything else (the endpoint itself, its subnet)
        # would be refused again.
        if (error.error.code if error.error else None) not in _NOT_ALLOWED_TO_APPROVE or \
                APPROVAL_ACTION.lower() not in str(error.message).lower():
            raise
    log.warning("not allowed to approve on %s (%s): asking for manual approval", account.name, APPROVAL_ACTION)
    connection["properties"]["requestMessage"] = f"vmshift replication to {account.name} over Private Link"
    body["properties"] = {"subnet": {"id": subnet_id}, "manualPrivateLinkServiceConnections": [connection]}
    return clients.network.private_endpoints.begin_create_or_update(resource_group, name, body).result()


def _nic_ids(endpoint: PrivateEndpoint) -> list[str]:
    """The network interface Azure made for the endpoint (deleted with it)."""
    return [nic.id for nic in endpoint.properties.network_interfaces or []]


def _connection(endpoint: PrivateEndpoint) -> tuple:
    """The endpoint's one connection and whether it went the automatic or the manual way."""
    properties = endpoint.properties
    if properties.private_link_service_connections:
        return properties.private_link_service_connections[0], "automatic"
    return properties.manual_private_link_service_connections[0], "manual"


def _status(endpoint: PrivateEndpoint) -> str:
    state = _connection(endpoint)[0]["properties"].get("privateLinkServiceConnectionState") or {}
    return state.get("status") or "Pending"


def _wait_for_approval(
    clients: AzureClients,
    endpoint: PrivateEndpoint,
    account_name: str,
    resource_group: str,
    timeout_s: float,
    poll_interval_s: float,
) -> PrivateEndpoint:
    deadline = time.monotonic() + timeout_s
    told = False
    while True:
        status = _status(endpoint)
        if status == "Approved":
            return endpoint
        if status in ("Rejected", "Disconnected"):
            raise PrivateEndpointRejected(
                f"the connection of private endpoint {endpoint.name} to storage account {account_name} is "
                f"{status}: ask the account's owner why, then delete the endpoint and run this step again"
            )
        nics = ", ".join(parse_resource_id(nic)["name"] for nic in _nic_ids(endpoint))
        message = (
            f"private endpoint {endpoint.name} (network interface {nics}) waits for approval: the owner of storage "
            f"account {account_name} approves it under {account_name} > Networking > Private endpoint connections"
        )
        why = (f". vmshift may not approve it itself: {APPROVAL_ACTION} on the account is not among its roles, or "
               "the account denies it") if _connection(endpoint)[1] == "manual" else ""
        if not told:
            log.warning(message + why)
            told = True
        if time.monotonic() >= deadline:
            raise ApprovalTimedOut(f"{message}; not approved within {timeout_s:g} s, run this step again after{why}")
        time.sleep(max(0.0, min(poll_interval_s, deadline - time.monotonic())))
        endpoint = clients.network.private_endpoints.get(resource_group, endpoint.name)


def _info(clients: AzureClients, endpoint: PrivateEndpoint) -> PrivateEndpointInfo:
    connection, approval = _connection(endpoint)
    nic_id = endpoint.properties.network_interfaces[0].id
    nic_parts = parse_resource_id(nic_id)
    nic = clients.network.network_interfaces.get(nic_parts["resource_group"], nic_parts["name"])
    return PrivateEndpointInfo(
        id=endpoint.id,
        name=endpoint.name,
        account_id=connection.properties.private_link_service_id,
        status=_status(endpoint),
        approval=approval,
        nic_id=nic_id,
        private_ip=nic.properties.ip_configurations[0].properties.private_ip_address,
    )
