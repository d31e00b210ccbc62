"""HTTP for Microsoft.Compute: disks, snapshots, disk access, encryption sets, availability sets, VMs, sizes."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse

from vmshift.lab.arm import lro
from vmshift.lab.arm.compute import catalog
from vmshift.lab.arm.compute.models import SNAPSHOT, ComputeBackend
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, Handler, listing
from vmshift.lab.arm.simulator import Simulator

NAMESPACE = "Microsoft.Compute"


def _backend(req: ArmRequest) -> tuple[ComputeBackend, str, str]:
    return ComputeBackend(req.simulator), req.params["subscriptionId"], req.params["resourceGroupName"]


def create_or_update_disk(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    disk, created = backend.create_or_update_disk(sub, group, req.params["diskName"], req.json())
    return lro.accepted_create(req, NAMESPACE, disk, created, disk["location"])


def get_disk(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_disk(sub, group, req.params["diskName"]))


def list_disks(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing(backend.list_disks(sub, group))


def delete_disk(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    found = backend.delete_disk(sub, group, req.params["diskName"])
    return lro.accepted_action(req, NAMESPACE, "global") if found else ArmResponse(204)


def grant_access(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    result = backend.grant_access(sub, group, req.params["diskName"], req.json(), req.base_url)
    return lro.accepted_action(req, NAMESPACE, "global", result)


def end_get_access(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    backend.end_get_access(sub, group, req.params["diskName"])
    return lro.accepted_action(req, NAMESPACE, "global")


def create_or_update_snapshot(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    snapshot, created = backend.create_or_update_disk(sub, group, req.params["snapshotName"], req.json(), SNAPSHOT)
    return lro.accepted_create(req, NAMESPACE, snapshot, created, snapshot["location"])


def get_snapshot(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_snapshot(sub, group, req.params["snapshotName"]))


def delete_snapshot(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    found = backend.delete_disk(sub, group, req.params["snapshotName"], "snapshots")
    return lro.accepted_action(req, NAMESPACE, "global") if found else ArmResponse(204)


def grant_snapshot_access(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    result = backend.grant_access(sub, group, req.params["snapshotName"], req.json(), req.base_url, "snapshots")
    return lro.accepted_action(req, NAMESPACE, "global", result)


def revoke_snapshot_access(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    backend.end_get_access(sub, group, req.params["snapshotName"], "snapshots")
    return lro.accepted_action(req, NAMESPACE, "global")


def create_or_update_disk_encryption_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    des, created = backend.create_or_update_disk_encryption_set(sub, group, req.params["diskEncryptionSetName"],
                                                                req.json())
    return lro.accepted_create(req, NAMESPACE, des, created, des["location"])


def get_disk_encryption_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_disk_encryption_set(sub, group, req.params["diskEncryptionSetName"]))


def create_or_update_availability_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    avset, _ = backend.create_or_update_availability_set(sub, group, req.params["availabilitySetName"],
                                                         req.json())
    req.simulator.store.put(avset["id"], avset)
    return ArmResponse(200, avset)


def get_availability_set(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, backend.get_availability_set(sub, group, req.params["availabilitySetName"]))


def create_or_update_virtual_machine(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    vm, created = backend.create_or_update_virtual_machine(sub, group, req.params["vmName"], req.json())
    response = lro.accepted_put(req, NAMESPACE, vm["id"], vm, created, vm["location"])
    response.body = ComputeBackend.public_view(vm)
    return response


def get_virtual_machine(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    vm = backend.get_virtual_machine(sub, group, req.params["vmName"])
    return ArmResponse(200, ComputeBackend.public_view(vm, req.query.get("$expand") == "instanceView"))


def list_virtual_machines(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return listing([ComputeBackend.public_view(vm) for vm in backend.list_virtual_machines(sub, group)])


def instance_view(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    return ArmResponse(200, ComputeBackend.instance_view(backend.get_virtual_machine(sub, group,
                                                                                     req.params["vmName"])))


def _power(state: str) -> Handler:
    def handler(req: ArmRequest) -> ArmResponse:
        backend, sub, group = _backend(req)
        vm = backend.set_power_state(sub, group, req.params["vmName"], state)
        return lro.accepted_action(req, NAMESPACE, vm["location"])
    return handler


power_off = _power("stopped")
deallocate = _power("deallocated")
start = _power("running")
restart = _power("running")


def delete_virtual_machine(req: ArmRequest) -> ArmResponse:
    backend, sub, group = _backend(req)
    vm = backend.delete_virtual_machine(sub, group, req.params["vmName"])
    return lro.accepted_action(req, NAMESPACE, vm["location"]) if vm else ArmResponse(204)


def list_resource_skus(req: ArmRequest) -> ArmResponse:
    """resource_skus.list, with the `location eq '...'` filter Azure supports."""
    locations = req.simulator.settings.regions
    found = re.search(r"location\s+eq\s+'([^']+)'", req.query.get("$filter", ""), re.IGNORECASE)
    if found:
        locations = [found.group(1).replace(" ", "").lower()]
    return listing(catalog.resource_skus(locations))


def list_virtual_machine_sizes(req: ArmRequest) -> ArmResponse:
    location = req.simulator.check_location(req.params["location"])
    return listing(catalog.virtual_machine_sizes(location))


def read_disk_access(simulator: Simulator, grant: str, signature: str, request: Request) -> FileResponse:
    """The grant-access URL: the disk as a fixed VHD, with Range support as Azure Storage serves it."""
    path = ComputeBackend(simulator).granted_file(grant, signature)
    return FileResponse(path, media_type="application/octet-stream", headers={"x-ms-blob-type": "PageBlob"})


