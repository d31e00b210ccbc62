"""HTTP for Microsoft.Compute: disks, snapshots, disk access, encryption sets, availability sets, VMs, sizes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from email.utils import formatdate

from azure.storage.extensions import checksums
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from vmshift.lab.arm.compute import catalog
from vmshift.lab.arm.compute.models import SNAPSHOT, ComputeBackend
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse
from vmshift.lab.arm.simulator import Simulator


class ComputeResponse(BaseResponse[ComputeBackend]):
    backend_class = ComputeBackend

    def create_or_update_disk(self) -> ArmResponse:
        disk, created = self.backend.create_or_update_disk(self.subscription_id, self.group, self.param("diskName"),
                                                           self.body)
        return self.accepted_create(disk, created)

    def get_disk(self) -> ArmResponse:
        return self.ok(self.backend.get_disk(self.subscription_id, self.group, self.param("diskName")))

    def list_disks(self) -> ArmResponse:
        return self.listing(self.backend.list_disks(self.subscription_id, self.group_if_any))

    def delete_disk(self) -> ArmResponse:
        return self.deleted(self.backend.delete_disk(self.subscription_id, self.group, self.param("diskName")))

    def grant_access(self) -> ArmResponse:
        result = self.backend.grant_access(self.subscription_id, self.group, self.param("diskName"), self.body,
                                           self.req.base_url)
        return self.accepted_action(self._region("disks", "diskName"), result)

    def end_get_access(self) -> ArmResponse:
        self.backend.end_get_access(self.subscription_id, self.group, self.param("diskName"))
        return self.accepted_action(self._region("disks", "diskName"))

    def _region(self, collection: str, name_param: str) -> str:
        """The region of the disk or snapshot an action runs on, which its operation URL names."""
        if collection == "disks":
            return self.backend.get_disk(self.subscription_id, self.group, self.param(name_param))["location"]
        return self.backend.get_snapshot(self.subscription_id, self.group, self.param(name_param))["location"]

    def create_or_update_snapshot(self) -> ArmResponse:
        snapshot, created = self.backend.create_or_update_disk(self.subscription_id, self.group,
                                                               self.param("snapshotName"), self.body, SNAPSHOT)
        return self.accepted_create(snapshot, created)

    def get_snapshot(self) -> ArmResponse:
        return self.ok(self.backend.get_snapshot(self.subscription_id, self.group, self.param("snapshotName")))

    def delete_snapshot(self) -> ArmResponse:
        return self.deleted(self.backend.delete_disk(self.subscription_id, self.group, self.param("snapshotName"),
                                                     "snapshots"))

    def grant_snapshot_access(self) -> ArmResponse:
        result = self.backend.grant_access(self.subscription_id, self.group, self.param("snapshotName"), self.body,
                                           self.req.base_url, "snapshots")
        return self.accepted_action(self._region("snapshots", "snapshotName"), result)

    def revoke_snapshot_access(self) -> ArmResponse:
        self.backend.end_get_access(self.subscription_id, self.group, self.param("snapshotName"), "snapshots")
        return self.accepted_action(self._region("snapshots", "snapshotName"))

    def create_or_update_disk_encryption_set(self) -> ArmResponse:
        des, created = self.backend.create_or_update_disk_encryption_set(
            self.subscription_id, self.group, self.param("diskEncryptionSetName"), self.body)
        return self.accepted_create(des, created)

    def get_disk_encryption_set(self) -> ArmResponse:
        return self.ok(self.backend.get_disk_encryption_set(self.subscription_id, self.group,
                                                            self.param("diskEncryptionSetName")))

    def create_or_update_availability_set(self) -> ArmResponse:
        avset, _ = self.backend.create_or_update_availability_set(
            self.subscription_id, self.group, self.param("availabilitySetName"), self.body)
        self.backend.store.put(avset["id"], avset)
        return self.ok(avset)

    def get_availability_set(self) -> ArmResponse:
        return self.ok(self.backend.get_availability_set(self.subscription_id, self.group,
                                                         self.param("availabilitySetName")))

    def create_or_update_virtual_machine(self) -> ArmResponse:
        vm, created = self.backend.create_or_update_virtual_machine(self.subscription_id, self.group,
                                                                    self.param("vmName"), self.body)
        response = self.accepted_put(vm, created, vm["location"])
        response.body = ComputeBackend.public_view(vm)
        return response

    def get_virtual_machine(self) -> ArmResponse:
        vm = self.backend.get_virtual_machine(self.subscription_id, self.group, self.param("vmName"))
        return self.ok(ComputeBackend.public_view(vm, self.req.query.get("$expand") == "instanceView"))

    def list_virtual_machines(self) -> ArmResponse:
        return self.listing([ComputeBackend.public_view(vm)
                             for vm in self.backend.list_virtual_machines(self.subscription_id, self.group_if_any)])

    def instance_view(self) -> ArmResponse:
        vm = self.backend.get_virtual_machine(self.subscription_id, self.group, self.param("vmName"))
        return self.ok(ComputeBackend.instance_view(vm))

    def _set_power_state(self, state: str) -> ArmResponse:
        vm = self.backend.set_power_state(self.subscription_id, self.group, self.param("vmName"), state)
        return self.accepted_action(vm["location"])

    def power_off(self) -> ArmResponse:
        return self._set_power_state("stopped")

    def deallocate(self) -> ArmResponse:
        return self._set_power_state("deallocated")

    def start(self) -> ArmResponse:
        return self._set_power_state("running")

    def restart(self) -> ArmResponse:
        return self._set_power_state("running")

    def delete_virtual_machine(self) -> ArmResponse:
        vm = self.backend.delete_virtual_machine(self.subscription_id, self.group, self.param("vmName"))
        return self.deleted(vm)

    def list_resource_skus(self) -> ArmResponse:
        """resource_skus.list, with the `location eq '...'` filter Azure supports."""
        locations = self.req.simulator.settings.regions
        found = re.search(r"location\s+eq\s+'([^']+)'", self.req.query.get("$filter", ""), re.IGNORECASE)
        if found:
            locations = [found.group(1).replace(" ", "").lower()]
        return self.listing(catalog.resource_skus(locations))

    def list_virtual_machine_sizes(self) -> ArmResponse:
        location = self.req.simulator.check_location(self.param("location"))
        return self.listing(catalog.virtual_machine_sizes(location))


def read_disk_access(simulator: Simulator, grant: str, signature: str, request: Request) -> Response:
    """The grant-access URL: the disk as a fixed VHD, with Range support as Azure Storage serves it, and its
    written pages for `comp=pagelist` (Get Page Ranges, optionally within x-ms-range or Range)."""
    backend = ComputeBackend(simulator)
    if request.query_params.get("comp") == "pagelist":
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("x-ms-range") or request.headers.get("range")
                             or "")
        start, end = (int(asked.group(1)), int(asked.group(2)) if asked.group(2) else None) if asked else (0, None)
        pages = "".join(f"<PageRange><Start>{first}</Start><End>{last}</End></PageRange>"
                        for first, last in backend.granted_page_ranges(grant, signature, start, end))
        size = backend.granted_file(grant, signature).stat().st_size
        return Response(f'<?xml version="1.0" encoding="utf-8"?><PageList>{pages}</PageList>',
                        media_type="application/xml", headers={"x-ms-blob-content-length": str(size)})
    path = backend.granted_file(grant, signature)
    return FileResponse(path, media_type="application/octet-stream", headers={"x-ms-blob-type": "PageBlob"})


def _crc64(data: bytes) -> bytes:
    """Azure Storage's CRC-64 as x-ms-content-crc64 carries it, from Microsoft's own implementation (the SDK's
    ext-checksums), not vmshift's: a wrong CRC-64 in vmshift is refused here, as Azure would refuse it."""
    return checksums.crc64.compute(data, 0).to_bytes(8, "little")


def _sent_checksum(header: str, value: str, size: int) -> bytes:
    """A transactional checksum header's bytes: Azure Storage refuses one that is not base64 of `size` bytes."""
    try:
        sent = base64.b64decode(value, validate=True)
    except binascii.Error:
        sent = b""
    if len(sent) != size:
        raise ArmError(400, "InvalidHeaderValue", f"The value for one of the HTTP headers is not in the correct "
                                                  f"format: {header} must be base64 of {size} bytes.")
    return sent


def write_disk_access(simulator: Simulator, grant: str, signature: str, request: Request, body: bytes) -> Response:
    """Put Page on an upload grant's URL, as Azure Storage takes it on a disk in ActiveUpload: `update` with the
    bytes (their Content-MD5 or x-ms-content-crc64, when sent, checked: a transactional checksum), or `clear`."""
    if request.query_params.get("comp") != "page":
        raise ArmError(400, "UnsupportedQueryParameter", "A disk's upload URL takes Put Page (comp=page) only.")
    if request.headers.get("x-ms-copy-source"):
        raise ArmError(400, "UnsupportedHeader", "The lab's disk upload URL takes Put Page with its bytes; Put Page "
                                                 "From URL (x-ms-copy-source) is not simulated.")
    asked = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("x-ms-range") or request.headers.get("range") or "")
    if not asked:
        raise ArmError(400, "MissingRequiredHeader", "x-ms-range must give the pages as bytes=<first>-<last>.")
    first, last = int(asked.group(1)), int(asked.group(2))
    write = (request.headers.get("x-ms-page-write") or "").lower()
    if write not in ("update", "clear"):
        raise ArmError(400, "InvalidHeaderValue", "x-ms-page-write must be update or clear.")
    data = body if write == "update" else None
    sent_md5, sent_crc64 = request.headers.get("content-md5"), request.headers.get("x-ms-content-crc64")
    if sent_md5 and sent_crc64:
        raise ArmError(400, "InvalidHeaderValue", "Content-MD5 and x-ms-content-crc64 cannot both be specified.")
    # The checksum of what arrived: checked against the one sent, and answered as Azure Storage answers it.
    checksum = {}
    if data is not None and sent_crc64:
        checksum["x-ms-content-crc64"] = _crc64(data)
        if _sent_checksum("x-ms-content-crc64", sent_crc64, 8) != checksum["x-ms-content-crc64"]:
            raise ArmError(400, "Crc64Mismatch", "The CRC64 value specified in the request did not match with the "
                                                 "CRC64 value calculated by the server.")
    elif data is not None:
        checksum["Content-MD5"] = hashlib.md5(data).digest()
        if sent_md5 and _sent_checksum("Content-MD5", sent_md5, 16) != checksum["Content-MD5"]:
            raise ArmError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 "
                                               "value calculated by the server.")
    ComputeBackend(simulator).put_page(grant, signature, first, last, data)
    headers = {"ETag": f'"0x{uuid.uuid4().hex[:15].upper()}"', "x-ms-blob-sequence-number": "0",
               "Last-Modified": formatdate(usegmt=True), "x-ms-request-server-encrypted": "true"}
    headers |= {name: base64.b64encode(value).decode() for name, value in checksum.items()}
    return Response(status_code=201, headers=headers)
