"""HTTP for Microsoft.Resources/resourceGroups."""

from __future__ import annotations

from vmshift.lab.arm import lro
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.resources.models import ResourcesBackend
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, listing


def create_or_update(req: ArmRequest) -> ArmResponse:
    group, created = ResourcesBackend(req.simulator).create_or_update_resource_group(
        req.params["subscriptionId"], req.params["resourceGroupName"], req.json())
    return ArmResponse(201 if created else 200, group)


def get(req: ArmRequest) -> ArmResponse:
    return ArmResponse(200, ResourcesBackend(req.simulator).get_resource_group(
        req.params["subscriptionId"], req.params["resourceGroupName"]))


def check_existence(req: ArmRequest) -> ArmResponse:
    try:
        get(req)
    except ArmError as error:
        if error.status == 404:
            return ArmResponse(404)
        raise
    return ArmResponse(204)


def list_groups(req: ArmRequest) -> ArmResponse:
    return listing(ResourcesBackend(req.simulator).list_resource_groups(req.params["subscriptionId"]))


def delete(req: ArmRequest) -> ArmResponse:
    group = ResourcesBackend(req.simulator).delete_resource_group(
        req.params["subscriptionId"], req.params["resourceGroupName"])
    return lro.accepted_action(req, "Microsoft.Resources", group["location"])
