"""Microsoft.Storage: storage accounts (each one an Azurite account, so blobs are real), keys,
network rules and the private endpoint connections that approve or reject private endpoints."""

from __future__ import annotations

import base64
import os
import re
import threading
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.store import Store
from vmshift.lab.arm.wire import arm_resource, timestamp

STORAGE_ACCOUNT = "Microsoft.Storage/storageAccounts"
CONNECTION = "Microsoft.Storage/storageAccounts/privateEndpointConnections"
KINDS = ("Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage")
SKUS = ("Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS",
        "Standard_GZRS", "Standard_RAGZRS")
# Only general-purpose v2 accounts (and the premium blob/file kinds) take private endpoints.
PRIVATE_LINK_KINDS = ("StorageV2", "BlockBlobStorage", "FileStorage")
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
_KEYS = "storage-key"
_APPROVAL = "approval"
# Where the simulator publishes every account and its keys, in AZURITE_ACCOUNTS' own syntax
# (`name:key1:key2;...`), relative to its data folder; vmshift/lab/azurite_accounts.js feeds it to Azurite.
AZURITE_ACCOUNTS_FILE = "azurite-accounts"
# Azure lets the account's owner approve or reject a pending connection and reject an approved one;
# anything else (approving twice, approving a rejected one) is refused.
_CONNECTION_CHANGES = {("Pending", "Approved"), ("Pending", "Rejected"), ("Approved", "Rejected")}
_publishing = threading.Lock()


def find_account(store: Store, name: str) -> dict[str, Any] | None:
    """Account names are global in Azure: one name, one account, whatever the group."""
    return next((a for a in store.list(STORAGE_ACCOUNT) if a["name"] == name), None)


def _invalid_name(name: str) -> str:
    return (f"{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters "
            "in length and use numbers and lower-case letters only.")


def _taken(name: str) -> str:
    return f"The storage account named {name} is already taken."


class StorageBackend(BaseBackend):
    namespace = "Microsoft.Storage"

    def blob_endpoint(self, name: str) -> str:
        azurite = self.simulator.settings.azurite_endpoint
        return f"{azurite.rstrip('/')}/{name}/" if azurite else f"https://{name}.blob.core.windows.net/"

    def check_name_availability(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """What `az storage account create` asks first: account names are global, and have Storage's rules."""
        self.simulator.subscription_scope(subscription_id)
        name = str(body.get("name", ""))
        if body.get("type") != STORAGE_ACCOUNT:
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: type '{body.get('type')}'.", "type")
        if not _ACCOUNT_NAME.match(name):
            return {"nameAvailable": False, "reason": "AccountNameInvalid", "message": _invalid_name(name)}
        if find_account(self.store, name) is not None:
            return {"nameAvailable": False, "reason": "AlreadyExists", "message": _taken(name)}
        return {"nameAvailable": True}

    def create_storage_account(self, subscription_id: str, group: str, name: str,
                               body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        scope = self._scope(subscription_id, group)
        if not _ACCOUNT_NAME.match(name):
            raise ArmError(400, "AccountNameInvalid", _invalid_name(name), "accountName")
        resource_id = f"{scope}/storageAccounts/{name}"
        existing = find_account(self.store, name)
        if existing is not None and existing["id"].lower() != resource_id.lower():
            raise ArmError(409, "StorageAccountAlreadyTaken", _taken(name))
        location = self.simulator.check_location(body.get("location"))
        kind = body.get("kind")
        if kind not in KINDS:
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: kind. Allowed: {', '.join(KINDS)}.", "kind")
        sku = (body.get("sku") or {}).get("name")
        if sku not in SKUS:
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: sku.name '{sku}'.", "sku.name")
        if existing is not None and existing["location"] != location:
            raise ArmError(409, "InvalidAccountLocation",
                           f"The storage account {name} already exists in location {existing['location']}.")
        requested = body.get("properties") or {}
        previous = (existing or {}).get("properties", {})
        properties: dict[str, Any] = {
            "creationTime": previous.get("creationTime", timestamp()),
            "primaryEndpoints": {"blob": self.blob_endpoint(name)},
            "primaryLocation": location, "statusOfPrimary": "available",
            "supportsHttpsTrafficOnly": requested.get("supportsHttpsTrafficOnly", True),
            "allowBlobPublicAccess": requested.get("allowBlobPublicAccess", False),
            "allowSharedKeyAccess": requested.get("allowSharedKeyAccess", True),
            "minimumTlsVersion": requested.get("minimumTlsVersion", "TLS1_2"),
            "publicNetworkAccess": requested.get("publicNetworkAccess", "Enabled"),
            "networkAcls": self._network_acls(requested.get("networkAcls")),
            "encryption": {"keySource": "Microsoft.Storage",
                           "services": {"blob": {"enabled": True, "keyType": "Account"}}},
            "privateEndpointConnections": previous.get("privateEndpointConnections", []),
        }
        if kind in ("StorageV2", "BlobStorage"):
            properties["accessTier"] = requested.get("accessTier", "Hot")
        account = arm_resource(resource_id, STORAGE_ACCOUNT, location, properties, body.get("tags"), kind=kind,
                               sku={"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"})
        if existing is None:
            # Stored before it is published, so that no concurrent publication leaves it out of Azurite.
            account["properties"]["provisioningState"] = "Creating"
            self.store.put(resource_id, account)
            self.publish_azurite_accounts()
        return account, existing is None

    @staticmethod
    def _network_acls(acls: dict[str, Any] | None) -> dict[str, Any]:
        acls = acls or {}
        default_action = acls.get("defaultAction", "Allow")
        if default_action not in ("Allow", "Deny"):
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: networkAcls.defaultAction "
                           f"'{default_action}'.", "networkAcls.defaultAction")
        return {"bypass": acls.get("bypass", "AzureServices"), "defaultAction": default_action,
                "virtualNetworkRules": acls.get("virtualNetworkRules", []), "ipRules": acls.get("ipRules", []),
                "resourceAccessRules": acls.get("resourceAccessRules", [])}

    def update_storage_account(self, subscription_id: str, group: str, name: str,
                               body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: only what the request names changes (network rules, public access, tags)."""
        account = self.get_storage_account(subscription_id, group, name)
        requested = body.get("properties") or {}
        for key in ("publicNetworkAccess", "allowBlobPublicAccess", "allowSharedKeyAccess", "minimumTlsVersion",
                    "supportsHttpsTrafficOnly", "accessTier"):
            if key in requested:
                account["properties"][key] = requested[key]
        if "networkAcls" in requested:
            account["properties"]["networkAcls"] = self._network_acls(requested["networkAcls"])
        if "tags" in body:
            account["tags"] = body["tags"]
        self.store.put(account["id"], account)
        return account

    def get_storage_account(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        return self._get(STORAGE_ACCOUNT, subscription_id, group, "storageAccounts", name)

    def list_storage_accounts(self, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        return self._list(STORAGE_ACCOUNT, subscription_id, group)

    def delete_storage_account(self, subscription_id: str, group: str, name: str) -> None:
        """The account and its keys go, and Azurite stops taking them: a re-created account has new keys."""
        resource_id = f"{self._scope(subscription_id, group)}/storageAccounts/{name}"
        if self.store.delete(resource_id):
            self.store.delete(resource_id, kind=_KEYS)
            self.publish_azurite_accounts()

    def list_keys(self, subscription_id: str, group: str, name: str) -> dict[str, Any]:
        account = self.get_storage_account(subscription_id, group, name)
        keys = self._account_keys(account)
        return {"keys": [{"keyName": k, "value": keys[k], "permissions": "FULL", "creationTime": keys["created"]}
                         for k in ("key1", "key2")]}

    def _account_keys(self, account: dict[str, Any]) -> dict[str, str]:
        """A seeded account's key1 is the one the launcher gave Azurite; every other key is made here, once."""
        keys = self.store.get(account["id"], kind=_KEYS)
        if keys is None:
            seeded = self.simulator.settings.storage_keys.get(account["name"])
            keys = {"key1": seeded or base64.b64encode(os.urandom(64)).decode(),
                    "key2": base64.b64encode(os.urandom(64)).decode(), "created": account["properties"]["creationTime"]}
            self.store.put(account["id"], keys, kind=_KEYS)
        return keys

    def publish_azurite_accounts(self) -> None:
        """Write every account and its keys where Azurite's wrapper reads them, so blobs of an account
        created through ARM are accepted on its next request. Owner-only: the file holds keys."""
        path = self.simulator.settings.data_dir / AZURITE_ACCOUNTS_FILE
        with _publishing:
            entries = []
            for account in self.store.list(STORAGE_ACCOUNT):
                keys = self._account_keys(account)
                entries.append(f"{account['name']}:{keys['key1']}:{keys['key2']}")
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.unlink(missing_ok=True)
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                out.write(";".join(entries))
            tmp.replace(path)

    # --- private endpoint connections --------------------------------------------------------------

    def set_caller_may_approve(self, name: str, allowed: bool, keep_existing: bool = False) -> None:
        """Whether the account's owner lets vmshift's app approve private endpoints on the account, whatever its
        roles say (the authorization guard checks it as a deny assignment of privateEndpointConnectionsApproval);
        `keep_existing` (the seed) leaves a right that was already set, by the spec or by /_lab/approvals."""
        if keep_existing and self.store.get(name, kind=_APPROVAL) is not None:
            return
        self.store.put(name, {"caller_may_approve": allowed}, kind=_APPROVAL)

    def caller_may_approve(self, account: dict[str, Any]) -> bool:
        entry = self.store.get(account["name"], kind=_APPROVAL)
        return entry is None or entry["caller_may_approve"]

    def account_by_id(self, account_id: str) -> dict[str, Any] | None:
        return self.store.get(account_id)

    def add_private_endpoint_connection(self, account: dict[str, Any], endpoint_id: str, status: str,
                                        description: str) -> dict[str, Any]:
        """What a new private endpoint leaves on the account: a connection, approved or pending."""
        if account["kind"] not in PRIVATE_LINK_KINDS:
            raise ArmError(400, "OperationNotAllowedOnKind",
                           "Call to Microsoft.Storage/storageAccounts failed. Error message: The operation is not "
                           f"allowed on account kind {account['kind']}")
        connections = account["properties"]["privateEndpointConnections"]
        current = next((c for c in connections
                        if c["properties"]["privateEndpoint"]["id"].lower() == endpoint_id.lower()), None)
        if current is not None:
            return current
        name = f"{endpoint_id.rsplit('/', 1)[-1]}.{os.urandom(4).hex()}"
        connection = {
            "id": f"{account['id']}/privateEndpointConnections/{name}", "name": name, "type": CONNECTION,
            "properties": {"privateEndpoint": {"id": endpoint_id},
                           "privateLinkServiceConnectionState": {"status": status, "description": description,
                                                                 "actionRequired": "None"},
                           "provisioningState": "Succeeded"},
        }
        connections.append(connection)
        self.store.put(account["id"], account)
        return connection

    def remove_private_endpoint_connections(self, endpoint_id: str) -> None:
        for account in self.store.list(STORAGE_ACCOUNT):
            connections = account["properties"]["privateEndpointConnections"]
            kept = [c for c in connections if c["properties"]["privateEndpoint"]["id"].lower() != endpoint_id.lower()]
            if len(kept) != len(connections):
                account["properties"]["privateEndpointConnections"] = kept
                self.store.put(account["id"], account)

    def list_private_endpoint_connections(self, subscription_id: str, group: str, name: str) -> list[dict[str, Any]]:
        return self.get_storage_account(subscription_id, group, name)["properties"]["privateEndpointConnections"]

    def get_private_endpoint_connection(self, subscription_id: str, group: str, name: str,
                                        connection_name: str) -> dict[str, Any]:
        for connection in self.list_private_endpoint_connections(subscription_id, group, name):
            if connection["name"].lower() == connection_name.lower():
                return connection
        raise ArmError(404, "PrivateEndpointConnectionNotFound",
                       f"Private endpoint connection {connection_name} of storage account {name} was not found.")

    def put_private_endpoint_connection(self, subscription_id: str, group: str, name: str, connection_name: str,
                                        body: dict[str, Any]) -> dict[str, Any]:
        """Approve or reject: the account's owner decides, and the endpoint sees the new state."""
        account = self.get_storage_account(subscription_id, group, name)
        state = ((body.get("properties") or {}).get("privateLinkServiceConnectionState")) or {}
        status = state.get("status")
        if status not in ("Approved", "Rejected", "Pending"):
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: privateLinkServiceConnectionState.status "
                           f"'{status}'.", "properties.privateLinkServiceConnectionState.status")
        for connection in account["properties"]["privateEndpointConnections"]:
            if connection["name"].lower() != connection_name.lower():
                continue
            current = connection["properties"]["privateLinkServiceConnectionState"]
            if (current["status"], status) not in _CONNECTION_CHANGES:
                # Storage's own answer (azure-rest-api-specs#30308); no more detail than Azure gives.
                raise ArmError(400, "InvalidValuesForRequestParameters",
                               "Values for request parameters are invalid: privateLinkServiceConnectionState.status.",
                               "properties.privateLinkServiceConnectionState.status")
            current.update({"status": status, "description": state.get("description", ""),
                            "actionRequired": state.get("actionRequired", "None")})
            self.store.put(account["id"], account)
            return connection
        raise ArmError(404, "PrivateEndpointConnectionNotFound",
                       f"Private endpoint connection {connection_name} of storage account {name} was not found.")

    def delete_private_endpoint_connection(self, subscription_id: str, group: str, name: str,
                                           connection_name: str) -> dict[str, Any] | None:
        account = self.get_storage_account(subscription_id, group, name)
        connections = account["properties"]["privateEndpointConnections"]
        gone = next((c for c in connections if c["name"].lower() == connection_name.lower()), None)
        if gone is not None:
            connections.remove(gone)
            self.store.put(account["id"], account)
        return gone

    def connection_state(self, endpoint_id: str, account_id: str) -> dict[str, Any]:
        """The endpoint's view of its connection: what the account says, or Disconnected once removed."""
        account = self.store.get(account_id)
        for connection in (account or {}).get("properties", {}).get("privateEndpointConnections", []):
            if connection["properties"]["privateEndpoint"]["id"].lower() == endpoint_id.lower():
                # Storage spells it actionRequired, Network actionsRequired.
                state = connection["properties"]["privateLinkServiceConnectionState"]
                return {"status": state["status"], "description": state.get("description", ""),
                        "actionsRequired": state.get("actionRequired", "None")}
        return {"status": "Disconnected", "description": "The private link service connection was removed.",
                "actionsRequired": "None"}
