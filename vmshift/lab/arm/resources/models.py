"""Microsoft.Resources: resource groups, the scope every other resource lives in."""

from __future__ import annotations

import re
from typing import Any

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.routing import arm_resource
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import STORAGE_ACCOUNT, StorageBackend

RESOURCE_GROUP = "Microsoft.Resources/resourceGroups"
# Resource group names: 1-90 characters, letters, digits, '_', '-', '.', '(', ')', not ending in '.'.
_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}(?<!\.)$")


class ResourcesBackend:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.store = simulator.store

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
