"""What every provider needs to answer a request: the lab's settings, its state, and ARM's common checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.store import Store


@dataclass
class Settings:
    """The lab tenant and the parts the simulator talks to; secrets come from the environment."""

    tenant_id: str
    client_id: str
    subscription_id: str
    client_secret: str = field(repr=False)
    regions: list[str]
    data_dir: Path
    ca_file: Path | None = None
    azurite_endpoint: str | None = None
    storage_keys: dict[str, str] = field(default_factory=dict, repr=False)
    signing_key: bytes = field(default=b"", repr=False)
    subscription_name: str = "vmshift lab"
    # The tenant's other subscriptions, ID to display name: where a plan may put VMs; the appliance's
    # (subscription_id) keeps the cache accounts and the appliance's VNet.
    other_subscriptions: dict[str, str] = field(default_factory=dict)

    def subscriptions(self) -> dict[str, str]:
        """Every subscription of the lab tenant, ID to display name, the appliance's first."""
        return {self.subscription_id: self.subscription_name, **self.other_subscriptions}
    # The lab's administrator app, Owner of the subscription: what tests set the world up with.
    admin_client_id: str = ""
    admin_client_secret: str = field(default="", repr=False)


@dataclass
class Simulator:
    settings: Settings
    store: Store
    appliance_vnet_ids: list[str] = field(default_factory=list)

    def subscription_scope(self, subscription_id: str) -> str:
        """`/subscriptions/<id>` as the subscription spells its ID; ARM's 404 for one the tenant does not hold."""
        for known in self.settings.subscriptions():
            if known.lower() == subscription_id.lower():
                return f"/subscriptions/{known}"
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")

    def resource_group(self, subscription_id: str, group: str) -> dict[str, Any]:
        """The group's stored resource, so IDs carry the group name as it was created."""
        scope = self.subscription_scope(subscription_id)
        body = self.store.get(f"{scope}/resourceGroups/{group}")
        if body is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        return body

    def group_scope(self, subscription_id: str, group: str) -> str:
        return self.resource_group(subscription_id, group)["id"]

    def claim(self, scope: str, collection: str, name: str, body: dict[str, Any],
              rule: str = "general") -> tuple[str, str, dict[str, Any] | None]:
        """What every PUT checks first: the name's rules and the region; gives the ID, the normalised
        location and the resource as it stands (None when the PUT creates it)."""
        check_name(name, rule)
        location = self.check_location(body.get("location"))
        resource_id = f"{scope}/{collection}/{name}"
        return resource_id, location, self.store.get(resource_id)

    def check_location(self, location: str | None, target: str = "location") -> str:
        """Azure normalises 'West Europe' to 'westeurope' and refuses regions it does not offer."""
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        normal = location.replace(" ", "").lower()
        if normal not in self.settings.regions:
            raise ArmError(
                400, "LocationNotAvailableForResourceType",
                f"The provided location '{location}' is not available for resource type. "
                f"List of available regions is '{','.join(self.settings.regions)}'.",
                target,
            )
        return normal


# Azure's naming rules for the resource types the lab holds (Microsoft's "naming rules and restrictions").
_NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "general": (
        re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$"),
        "The name can be up to 80 characters long. It must begin with a word character, and it must end "
        "with a word character or with '_'. The name may contain word characters or '.', '-', '_'.",
    ),
    "vm": (
        re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$"),
        "Virtual machine names can be up to 64 characters long, begin with a word character, "
        "end with a word character or '_', and contain word characters, '.', '-' or '_'.",
    ),
}


def check_name(name: str, rule: str = "general") -> None:
    pattern, explanation = _NAME_RULES[rule]
    if not pattern.match(name):
        raise ArmError(400, "InvalidResourceName", f"Resource name {name} is invalid. {explanation}")
