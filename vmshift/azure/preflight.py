"""Storage preflight: is the cache account one that replication, Private Link and disk import can all use?"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id
from azure.mgmt.storage.models import StorageAccount

from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import PreflightFailed

# Private endpoints for the blob subresource exist only on general-purpose v2 accounts.
PRIVATE_LINK_KIND = "StorageV2"


def cache_account_problems(account: StorageAccount, *, subscription_id: str, target_region: str) -> list[str]:
    """Everything that stops this account from serving as the cache, each with what to change and where."""
    name = account.name
    kind = account["kind"]  # the REST value, not the SDK's enum member, for the message
    problems: list[str] = []
    if kind != PRIVATE_LINK_KIND:
        problems.append(
            f"kind is {kind}, private endpoints need a general-purpose v2 account (StorageV2): "
            f"upgrade it in the portal under {name} > Settings > Configuration > Upgrade, or use another account"
        )
    if not same_region(account.location, target_region):
        problems.append(
            f"location is {account.location}, the target region is {target_region}: managed disks are imported "
            f"only from an account in their own region; create the cache account in {target_region}"
        )
    account_subscription = parse_resource_id(account.id).get("subscription", "")
    if account_subscription.lower() != subscription_id.lower():
        problems.append(
            f"subscription is {account_subscription}, the migration subscription is {subscription_id}: "
            "use a cache account in the migration subscription"
        )
    properties = account["properties"]
    if properties.get("publicNetworkAccess", "Enabled") == "Disabled":
        problems.append(
            "public network access is Disabled: Azure imports the managed disks from the account's public "
            f"endpoint; set {name} > Networking > Public network access to 'Enabled from selected virtual "
            "networks and IP addresses' and allow trusted Azure services"
        )
    rules = properties.get("networkAcls") or {}
    if rules.get("defaultAction") == "Deny" and "AzureServices" not in (rules.get("bypass") or ""):
        problems.append(
            "the firewall denies by default without the trusted-services exception, so disk import cannot "
            f"read the blobs: tick {name} > Networking > Exceptions > 'Allow Azure services on the trusted "
            "services list to access this storage account' (bypass AzureServices)"
        )
    return problems


def preflight_cache_account(
    clients: AzureClients, *, resource_group: str, account_name: str, target_region: str
) -> StorageAccount:
    """The cache account, checked; raises PreflightFailed listing every problem at once."""
    try:
        account = clients.storage.storage_accounts.get_properties(resource_group, account_name)
    except ResourceNotFoundError as error:
        raise PreflightFailed(
            account_name,
            [f"not found in resource group {resource_group} of subscription {clients.config.subscription_id}"],
        ) from error
    problems = cache_account_problems(
        account, subscription_id=clients.config.subscription_id, target_region=target_region
    )
    if problems:
        raise PreflightFailed(account_name, problems)
    return account


def same_region(a: str, b: str) -> bool:
    """ARM answers regions in either spelling ("West Europe" or "westeurope")."""
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()
