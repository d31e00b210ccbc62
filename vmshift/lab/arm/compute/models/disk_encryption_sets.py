"""Disk encryption sets: the customer-key encryption a disk may name."""

from __future__ import annotations

import uuid
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import invalid_parameter
from vmshift.lab.arm.wire import arm_resource

DISK_ENCRYPTION_SET = "Microsoft.Compute/diskEncryptionSets"
DES_TYPES = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys",
             "ConfidentialVmEncryptedWithCustomerKey")


class DiskEncryptionSetBackend(BaseBackend):
    def create_or_update_disk_encryption_set(self, subscription_id: str, group: str, name: str,
                                             body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        resource_id, location, existing = self.simulator.claim(
            self._scope(subscription_id, group), "diskEncryptionSets", name, body)
        requested = body.get("properties") or {}
        encryption_type = requested.get("encryptionType", "EncryptionAtRestWithCustomerKey")
        if encryption_type not in DES_TYPES:
            raise invalid_parameter(f"Encryption type '{encryption_type}' is not valid for a disk encryption set.",
                                    "properties.encryptionType")
        key_url = (requested.get("activeKey") or {}).get("keyUrl")
        if not key_url:
            raise invalid_parameter("activeKey.keyUrl is required.", "properties.activeKey.keyUrl")
        identity = body.get("identity") or {"type": "SystemAssigned"}
        identity = {**identity, "principalId": str(uuid.uuid4()), "tenantId": self.simulator.settings.tenant_id}
        des = arm_resource(resource_id, DISK_ENCRYPTION_SET, location, {
            "encryptionType": encryption_type, "activeKey": requested["activeKey"],
            "rotationToLatestKeyVersionEnabled": bool(requested.get("rotationToLatestKeyVersionEnabled")),
        }, body.get("tags"), identity=identity)
        return des, existing is None

    def get_disk_encryption_set(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(DISK_ENCRYPTION_SET, subscription_id, group, "diskEncryptionSets", name)
