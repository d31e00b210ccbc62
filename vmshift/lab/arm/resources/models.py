"""Microsoft.Resources: resource groups, the scope every other resource lives in; the subscription, tenant and
resource providers; the subscriptions a service principal holds a role in."""

from __future__ import annotations

import re
from typing import Any

from vmshift.lab.arm import api_versions
from vmshift.lab.arm.authorization.models import AuthorizationBackend
from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.identity import Caller
from vmshift.lab.arm.storage.models import STORAGE_ACCOUNT, StorageBackend
from vmshift.lab.arm.wire import arm_resource

RESOURCE_GROUP = "Microsoft.Resources/resourceGroups"
# Resource group names: 1-90 characters, letters, digits, '_', '-', '.', '(', ')', not ending in '.'.
_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}(?<!\.)$")
# GenericResourceExpanded (resources.json): a listed resource's fields, and what `$expand` may add.
_GENERIC = ("id", "name", "type", "location", "extendedLocation", "tags", "plan", "kind", "managedBy", "sku",
            "identity")
_EXPANDABLE = ("createdTime", "changedTime", "provisioningState")


class ResourcesBackend(BaseBackend):
    namespace = "Microsoft.Resources"

    def create_or_update_resource_group(self, subscription_id: str, name: str,
                                        body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        scope = self.simulator.subscription_scope(subscription_id)
        if not _GROUP_NAME.match(name):
            raise ArmError(400, "InvalidResourceGroupName",
                           f"The resource group name '{name}' is invalid. It can include alphanumeric, underscore, "
                           "parentheses, hyphen, period (except at end), and Unicode characters that match the "
                           "allowed characters.")
        location = self.simulator.check_location(body.get("location"))
        existing = self.store.get(f"{scope}/resourceGroups/{name}")
        if existing is not None and existing["location"] != location:
            raise ArmError(409, "InvalidResourceGroupLocation",
                           f"Invalid resource group location '{location}'. The Resource group already exists in "
                           f"location '{existing['location']}'.")
        resource_id = existing["id"] if existing else f"{scope}/resourceGroups/{name}"
        group = arm_resource(resource_id, RESOURCE_GROUP, location, {"provisioningState": "Succeeded"},
                             body.get("tags"))
        if body.get("managedBy"):
            group["managedBy"] = body["managedBy"]
        self.store.put(resource_id, group)
        return group, existing is None

    def get_resource_group(self, subscription_id: str, name: str) -> dict[str, Any]:
        return self.simulator.resource_group(subscription_id, name)

    def list_resource_groups(self, subscription_id: str) -> list[dict[str, Any]]:
        scope = self.simulator.subscription_scope(subscription_id)
        return self.store.list(RESOURCE_GROUP, scope)

    def list_resources(self, subscription_id: str, name: str, expand: str | None) -> list[dict[str, Any]]:
        """Resources_ListByResourceGroup: the group's tracked resources as GenericResourceExpanded, without their
        properties; `$expand` adds provisioningState, and createdTime where the resource records it."""
        group = self.simulator.resource_group(subscription_id, name)
        asked = {part.strip() for part in (expand or "").split(",") if part.strip()}
        unknown = asked - set(_EXPANDABLE)
        if unknown:
            raise ArmError(400, "InvalidExpandQueryParameter",
                           f"The value '{', '.join(sorted(unknown))}' of the $expand query parameter is invalid. "
                           f"The supported values are '{', '.join(_EXPANDABLE)}'.")
        listed = []
        for resource in self.store.tracked(f"{group['id']}/providers"):
            item = {key: resource[key] for key in _GENERIC if key in resource}
            properties = resource.get("properties") or {}
            if "provisioningState" in asked and "provisioningState" in properties:
                item["provisioningState"] = properties["provisioningState"]
            if "createdTime" in asked and "timeCreated" in properties:
                item["createdTime"] = properties["timeCreated"]
            listed.append(item)
        return listed

    def delete_resource_group(self, subscription_id: str, name: str) -> dict[str, Any]:
        """Everything in the group goes; its storage accounts as an account delete does, so that
        Azurite stops taking their keys."""
        group = self.simulator.resource_group(subscription_id, name)
        storage = StorageBackend(self.simulator)
        for account in self.store.list(STORAGE_ACCOUNT, group["id"]):
            storage.delete_storage_account(subscription_id, name, account["name"])
        self.store.delete_under(group["id"])
        self.store.delete(group["id"])
        return group


# Region display names, as ARM lists a provider's locations; a region the table lacks shows its own name.
_REGION_NAMES = {"westeurope": "West Europe", "northeurope": "North Europe", "eastus": "East US",
                 "northcentralus": "North Central US"}


class TenancyBackend(BaseBackend):
    """What a service principal can reach: the subscriptions it holds a role in and the tenant, and the resource
    providers the simulator holds, with their resource types and api-versions from api_versions.py."""

    namespace = "Microsoft.Resources"

    def list_subscriptions(self, caller: Caller) -> list[dict[str, Any]]:
        rbac = AuthorizationBackend(self.simulator)
        return [self._subscription(subscription_id) for subscription_id in self.simulator.settings.subscriptions()
                if rbac.holds_role_in(caller.object_id, f"/subscriptions/{subscription_id}")]

    def get_subscription(self, subscription_id: str, caller: Caller) -> dict[str, Any]:
        """A subscription the caller holds no role in is one ARM does not show it: 404, as for none at all."""
        scope = self.simulator.subscription_scope(subscription_id)
        if not AuthorizationBackend(self.simulator).holds_role_in(caller.object_id, scope):
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
        return self._subscription(scope.rsplit("/", 1)[1])

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        settings = self.simulator.settings
        return {
            "id": f"/subscriptions/{subscription_id}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "tags": {}, "subscriptionId": subscription_id, "tenantId": settings.tenant_id,
            "displayName": settings.subscriptions()[subscription_id], "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
        }

    def list_tenants(self) -> list[dict[str, Any]]:
        tenant = self.simulator.settings.tenant_id
        return [{"id": f"/tenants/{tenant}", "tenantId": tenant, "tenantCategory": "Home", "country": "NL",
                 "countryCode": "NL", "displayName": "vmshift lab", "domains": ["vmshiftlab.onmicrosoft.com"],
                 "defaultDomain": "vmshiftlab.onmicrosoft.com", "tenantType": "AAD"}]

    def list_providers(self, subscription_id: str | None) -> list[dict[str, Any]]:
        namespaces = sorted({t.split("/", 1)[0] for t in api_versions.RESOURCE_TYPES})
        return [self.get_provider(subscription_id, namespace) for namespace in namespaces]

    def get_provider(self, subscription_id: str | None, namespace: str) -> dict[str, Any]:
        """A provider as ARM lists it: its resource types, each with its regions and api-versions, newest first."""
        types = {t: v for t, v in api_versions.RESOURCE_TYPES.items()
                 if t.split("/", 1)[0].lower() == namespace.lower()}
        if not types:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
        name = next(iter(types)).split("/", 1)[0]
        regions = [_REGION_NAMES.get(r, r) for r in self.simulator.settings.regions]
        resource_types = []
        for resource_type, versions in types.items():
            type_name = resource_type.split("/", 1)[1]
            if type_name.startswith("privateDnsZones"):
                locations = ["global"]
            elif name == "Microsoft.Resources" or type_name.startswith("locations/"):
                locations = []
            else:
                locations = regions
            resource_types.append({"resourceType": type_name, "locations": locations,
                                   "apiVersions": list(reversed(versions)), "capabilities": "None"})
        scope = self.simulator.subscription_scope(subscription_id) if subscription_id else ""
        return {"id": f"{scope}/providers/{name}", "namespace": name, "registrationState": "Registered",
                "registrationPolicy": "RegistrationRequired", "resourceTypes": resource_types}
