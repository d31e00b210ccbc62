"""HTTP for Microsoft.Storage/storageAccounts: accounts, keys, private endpoint connections."""

from __future__ import annotations

from vmshift.lab.arm import lro
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, listing
from vmshift.lab.arm.storage.models import StorageBackend

NAMESPACE = "Microsoft.Storage"


def _backend(req: ArmRequest) -> tuple[StorageBackend, str, str]:
    return StorageBackend(req.simulator), req.params["subscriptionId"], req.params["resourceGroupName"]


def create(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    account, created = backend.create_storage_account(sub, group, req.params["accountName"], req.json())
    return lro.accepted_create(req, NAMESPACE, account, created, account["location"])


def update(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.update_storage_account(sub, group, req.params["accountName"], req.json()))


def get_properties(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_storage_account(sub, group, req.params["accountName"]))


def list_by_resource_group(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_storage_accounts(sub, group))


def list_accounts(req: ArmRequest) -> ArmResponse:
    return listing(StorageBackend(req.simulator).list_storage_accounts(req.params["subscriptionId"], None))


def delete(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    backend.delete_storage_account(sub, group, req.params["accountName"])
    return ArmResponse(200)


def list_keys(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.list_keys(sub, group, req.params["accountName"]))


def list_private_endpoint_connections(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_private_endpoint_connections(sub, group, req.params["accountName"]))


def get_private_endpoint_connection(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_private_endpoint_connection(
        sub, group, req.params["accountName"], req.params["privateEndpointConnectionName"]))


def put_private_endpoint_connection(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.put_private_endpoint_connection(
        sub, group, req.params["accountName"], req.params["privateEndpointConnectionName"], req.json()))


def delete_private_endpoint_connection(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    gone = backend.delete_private_endpoint_connection(sub, group, req.params["accountName"],
                                                      req.params["privateEndpointConnectionName"])
    return ArmResponse(200 if gone else 204)
