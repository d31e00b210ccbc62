"""Availability sets: fault and update domains a VM may be placed in."""

from __future__ import annotations

from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import invalid_parameter
from vmshift.lab.arm.wire import arm_resource

AVAILABILITY_SET = "Microsoft.Compute/availabilitySets"


class AvailabilitySetBackend(BaseBackend):
    def create_or_update_availability_set(self, subscription_id: str, group: str, name: str,
                                          body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "availabilitySets", name, body)
        requested = body.get("properties") or {}
        faults = requested.get("platformFaultDomainCount", 2)
        updates = requested.get("platformUpdateDomainCount", 5)
        if not 1 <= faults <= 3:
            raise invalid_parameter("platformFaultDomainCount must be between 1 and 3.",
                                    "properties.platformFaultDomainCount")
        if not 1 <= updates <= 20:
            raise invalid_parameter("platformUpdateDomainCount must be between 1 and 20.",
                                    "properties.platformUpdateDomainCount")
        # Azure's default is Classic (AvailabilitySet_Create.json answers sku Classic to a body without one).
        avset = arm_resource(resource_id, AVAILABILITY_SET, location, {
            "platformFaultDomainCount": faults, "platformUpdateDomainCount": updates,
            "virtualMachines": (existing or {}).get("properties", {}).get("virtualMachines", []),
        }, body.get("tags"), sku={"name": (body.get("sku") or {}).get("name", "Classic")})
        avset["properties"].pop("provisioningState", None)
        return avset, existing is None

    def get_availability_set(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(AVAILABILITY_SET, subscription_id, group, "availabilitySets", name)
