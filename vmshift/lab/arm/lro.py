"""Long-running operations as ARM runs them, so the SDK's pollers really poll.

A PUT answers at once with provisioningState Creating/Updating and an Azure-AsyncOperation URL;
the operation reports InProgress for POLLS_BEFORE_DONE polls, then Succeeded, and only then does
the resource show Succeeded. POST actions and DELETE answer 202 with Location (and
Azure-AsyncOperation); the Location URL gives the action's result once the operation is done.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, Route
from vmshift.lab.arm.store import OPERATION

POLLS_BEFORE_DONE = 1
# azure-core waits Retry-After seconds between polls (30 s when absent); milliseconds keep the lab quick.
POLL_DELAY_MS = "50"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _operation_urls(req: ArmRequest, namespace: str, location: str, operation_id: str) -> tuple[str, str]:
    """In the subscription of the request's resource, as ARM answers (a tenant-level request: the lab's)."""
    subscription = req.params.get("subscriptionId")
    scope = req.simulator.subscription_scope(subscription) if subscription else \
        f"/subscriptions/{req.simulator.settings.subscription_id}"
    base = f"{req.base_url}{scope}/providers/{namespace}/locations/{location}"
    query = f"?api-version={req.api_version}"
    return f"{base}/operations/{operation_id}{query}", f"{base}/operationResults/{operation_id}{query}"


def _start(req: ArmRequest, resource_id: str | None, result: Any = None, result_status: int = 200) -> str:
    operation_id = str(uuid.uuid4())
    req.simulator.store.put(operation_id, {
        "name": operation_id, "resource_id": resource_id, "polls_left": POLLS_BEFORE_DONE,
        "startTime": _now(), "result": result, "result_status": result_status,
    }, kind=OPERATION)
    return operation_id


def accepted_put(req: ArmRequest, namespace: str, resource_id: str, body: dict[str, Any], created: bool,
                 location: str = "global", store: bool = True) -> ArmResponse:
    """Store the resource as Creating/Updating and answer 201 or 200 with the operation to poll.

    Child resources kept inside their parent (subnets) pass store=False: the parent is already saved.
    """
    if store:
        body.setdefault("properties", {})["provisioningState"] = "Creating" if created else "Updating"
        req.simulator.store.put(resource_id, body)
    operation_id = _start(req, resource_id)
    status_url, _ = _operation_urls(req, namespace, location, operation_id)
    headers = {"Azure-AsyncOperation": status_url, "Retry-After-Ms": POLL_DELAY_MS}
    return ArmResponse(201 if created else 200, body, headers)


def accepted_action(req: ArmRequest, namespace: str, location: str, result: Any = None,
                    result_status: int = 200, resource_id: str | None = None) -> ArmResponse:
    """A POST action or DELETE: 202, then the result at the Location URL once the operation is done.

    With resource_id (a PUT that Azure answers 202, as storage accounts do) the result is the resource.
    """
    operation_id = _start(req, resource_id, result, result_status)
    status_url, result_url = _operation_urls(req, namespace, location, operation_id)
    return ArmResponse(202, None, {"Azure-AsyncOperation": status_url, "Location": result_url,
                                   "Retry-After-Ms": POLL_DELAY_MS})


def accepted_create(req: ArmRequest, namespace: str, body: dict[str, Any], created: bool,
                    location: str = "global") -> ArmResponse:
    """The providers that answer a PUT with 202 and a Location to poll (storage accounts, disks,
    snapshots, disk encryption sets); an update of an existing resource answers 200 with it."""
    if not created:
        body.setdefault("properties", {})["provisioningState"] = "Succeeded"
        req.simulator.store.put(body["id"], body)
        return ArmResponse(200, body)
    body.setdefault("properties", {})["provisioningState"] = "Creating"
    req.simulator.store.put(body["id"], body)
    return accepted_action(req, namespace, location, resource_id=body["id"])


def _advance(req: ArmRequest, operation_id: str) -> dict[str, Any]:
    store = req.simulator.store
    operation = store.get(operation_id, kind=OPERATION)
    if operation is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{operation_id}' could not be found.")
    if operation["polls_left"] > 0:
        operation["polls_left"] -= 1
    elif "endTime" not in operation:
        operation["endTime"] = _now()
        resource_id = operation["resource_id"]
        resource = store.get(resource_id) if resource_id else None
        if resource is not None:
            resource["properties"]["provisioningState"] = "Succeeded"
            store.put(resource_id, resource)
    store.put(operation_id, operation, kind=OPERATION)
    return operation


def get_operation_status(req: ArmRequest) -> ArmResponse:
    operation = _advance(req, req.params["operationId"])
    body = {"name": operation["name"], "startTime": operation["startTime"],
            "status": "Succeeded" if "endTime" in operation else "InProgress"}
    if "endTime" in operation:
        body["endTime"] = operation["endTime"]
    return ArmResponse(200, body, {"Retry-After-Ms": POLL_DELAY_MS})


def get_operation_result(req: ArmRequest) -> ArmResponse:
    operation = _advance(req, req.params["operationId"])
    if "endTime" not in operation:
        return ArmResponse(202, None, {"Location": f"{req.base_url}{req.path}?api-version={req.api_version}",
                                       "Retry-After-Ms": POLL_DELAY_MS})
    if operation["result"] is None and operation["resource_id"]:
        return ArmResponse(200, req.simulator.store.get(operation["resource_id"]))
    if operation["result"] is None:
        return ArmResponse(operation["result_status"])
    return ArmResponse(operation["result_status"], operation["result"])


def operation_routes(namespace: str) -> list[Route]:
    prefix = "/subscriptions/{subscriptionId}/providers/" + namespace + "/locations/{location}"
    return [
        Route("GET", prefix + "/operations/{operationId}", get_operation_status, f"{namespace}/locations/operations"),
        Route("GET", prefix + "/operationResults/{operationId}", get_operation_result,
              f"{namespace}/locations/operationResults"),
    ]
