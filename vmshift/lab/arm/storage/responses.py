"""HTTP for Microsoft.Storage/storageAccounts: accounts, keys, private endpoint connections."""

from __future__ import annotations

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse
from vmshift.lab.arm.storage.models import StorageBackend


class StorageResponse(BaseResponse[StorageBackend]):
    backend_class = StorageBackend

    def check_name_availability(self) -> ArmResponse:
        return self.ok(self.backend.check_name_availability(self.subscription_id, self.body))

    def create(self) -> ArmResponse:
        account, created = self.backend.create_storage_account(self.subscription_id, self.group,
                                                               self.param("accountName"), self.body)
        return self.accepted_create(account, created)

    def update(self) -> ArmResponse:
        return self.ok(self.backend.update_storage_account(self.subscription_id, self.group,
                                                           self.param("accountName"), self.body))

    def get_properties(self) -> ArmResponse:
        return self.ok(self.backend.get_storage_account(self.subscription_id, self.group, self.param("accountName")))

    def list_accounts(self) -> ArmResponse:
        return self.listing(self.backend.list_storage_accounts(self.subscription_id, self.group_if_any))

    def delete(self) -> ArmResponse:
        self.backend.delete_storage_account(self.subscription_id, self.group, self.param("accountName"))
        return ArmResponse(200)

    def list_keys(self) -> ArmResponse:
        # `$expand=kerb` (what az sends) adds the Kerberos keys of an account with identity-based Azure Files
        # access; no lab account has that, so the answer is key1 and key2 as without it. 'kerb' is the only value.
        expand = self.req.query.get("$expand")
        if expand is not None and expand.lower() != "kerb":
            raise ArmError(400, "InvalidValuesForRequestParameters",
                           f"Values for request parameters are invalid: $expand '{expand}'.", "$expand")
        return self.ok(self.backend.list_keys(self.subscription_id, self.group, self.param("accountName")))

    def list_private_endpoint_connections(self) -> ArmResponse:
        return self.listing(self.backend.list_private_endpoint_connections(self.subscription_id, self.group,
                                                                           self.param("accountName")))

    def get_private_endpoint_connection(self) -> ArmResponse:
        return self.ok(self.backend.get_private_endpoint_connection(
            self.subscription_id, self.group, self.param("accountName"), self.param("privateEndpointConnectionName")))

    def put_private_endpoint_connection(self) -> ArmResponse:
        return self.ok(self.backend.put_private_endpoint_connection(
            self.subscription_id, self.group, self.param("accountName"), self.param("privateEndpointConnectionName"),
            self.body))

    def delete_private_endpoint_connection(self) -> ArmResponse:
        gone = self.backend.delete_private_endpoint_connection(
            self.subscription_id, self.group, self.param("accountName"), self.param("privateEndpointConnectionName"))
        return ArmResponse(200 if gone else 204)
