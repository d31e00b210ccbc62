"""Managed disks from the replica's page blob: Import reads the blob, grant access reads the disk back."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from arm_clients import CACHE_ACCOUNT, LOCATION, MIB, Arm, fixed_vhd, upload_page_blob
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.models import (
    CreationData,
    Disk,
    DiskCreateOption,
    DiskSku,
    Encryption,
    GrantAccessData,
    Snapshot,
)
from azure.storage.blob import BlobClient

from vmshift.replication.pageblob import transactional_crc64

pytestmark = pytest.mark.lab


def cache_account_id(arm: Arm) -> str:
    return arm.storage.storage_accounts.get_properties("rg-migration", CACHE_ACCOUNT).id


def import_disk(arm: Arm, group: str, name: str, source_uri: str, **disk: object) -> Disk:
    return arm.compute.disks.begin_create_or_update(group, name, Disk(
        location=LOCATION, sku=DiskSku(name="StandardSSD_LRS"),
        creation_data=CreationData(create_option=DiskCreateOption.IMPORT, source_uri=source_uri,
                                   storage_account_id=cache_account_id(arm)), **disk)).result()


def test_imported_disk_reads_back_byte_for_byte_through_grant_access(
    arm: Arm, group: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    data = bytearray(6 * MIB)
    data[:MIB] = os.urandom(MIB)
    data[5 * MIB:5 * MIB + 4096] = os.urandom(4096)
    blob = fixed_vhd(tmp_path, bytes(data))
    assert len(blob) == 6 * MIB + 512
    disk = import_disk(arm, group, "disk-os", upload_page_blob(arm, unique("os-") + ".vhd", blob),
                       os_type="Linux", hyper_v_generation="V2")
    assert disk.provisioning_state == "Succeeded"
    assert disk.disk_size_bytes == 6 * MIB
    assert disk.disk_state == "Unattached"
    read_back = arm.compute.disks.get(group, "disk-os")
    for seen in (disk, read_back):
        assert (seen.sku.name, seen.os_type, seen.hyper_v_generation) == ("StandardSSD_LRS", "Linux", "V2")

    access = arm.compute.disks.begin_grant_access(group, "disk-os", GrantAccessData(
        access="Read", duration_in_seconds=600)).result()
    assert arm.compute.disks.get(group, "disk-os").disk_state == "ActiveSAS"
    whole = requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30)
    assert whole.status_code == 200
    assert whole.content == blob
    ranged = requests.get(access.access_sas, headers={"Range": f"bytes={5 * MIB}-{6 * MIB - 1}"},
                          verify=arm.lab["ca_file"], timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == blob[5 * MIB:6 * MIB]

    forged = requests.get(access.access_sas.split("?")[0] + "?sig=00", verify=arm.lab["ca_file"], timeout=30)
    assert forged.status_code == 403
    arm.compute.disks.begin_revoke_access(group, "disk-os").result()
    assert requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30).status_code == 403


def test_a_disk_with_an_open_read_link_is_deleted_only_after_access_is_revoked(arm: Arm, group: str) -> None:
    arm.compute.disks.begin_create_or_update(group, "disk-shared", Disk(
        location=LOCATION, sku=DiskSku(name="StandardSSD_LRS"), disk_size_gb=1,
        creation_data=CreationData(create_option=DiskCreateOption.EMPTY))).result()
    arm.compute.disks.begin_grant_access(group, "disk-shared", GrantAccessData(
        access="Read", duration_in_seconds=600)).result()

    with pytest.raises(HttpResponseError) as refused:
        arm.compute.disks.begin_delete(group, "disk-shared").result()
    assert (refused.value.status_code, refused.value.error.code) == (409, "OperationNotAllowed")
    assert "endGetAccess" in refused.value.error.message
    assert arm.compute.disks.get(group, "disk-shared").disk_state == "ActiveSAS"

    arm.compute.disks.begin_revoke_access(group, "disk-shared").result()
    arm.compute.disks.begin_delete(group, "disk-shared").result()
    with pytest.raises(ResourceNotFoundError):
        arm.compute.disks.get(group, "disk-shared")


def test_import_of_a_blob_without_a_vhd_footer_is_refused(
    arm: Arm, group: str, unique: Callable[[str], str]
) -> None:
    uri = upload_page_blob(arm, unique("raw-") + ".vhd", os.urandom(MIB) + bytes(512))
    with pytest.raises(HttpResponseError) as refused:
        import_disk(arm, group, "disk-raw", uri)
    assert refused.value.error.code == "InvalidParameter"
    assert "conectix" in refused.value.error.message


def test_import_of_a_blob_not_a_whole_mib_plus_512_is_refused(
    arm: Arm, group: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    uri = upload_page_blob(arm, unique("odd-") + ".vhd", fixed_vhd(tmp_path, bytes(MIB))[:-512] + bytes(1024))
    with pytest.raises(HttpResponseError) as refused:
        import_disk(arm, group, "disk-odd", uri)
    assert refused.value.error.code == "BadRequest"
    assert "multiple of MiB" in refused.value.error.message


def test_customer_key_encryption_needs_an_existing_disk_encryption_set(arm: Arm, group: str) -> None:
    des = arm.compute.disk_encryption_sets.get("rg-target", "des-cmk")
    disk = arm.compute.disks.begin_create_or_update(group, "disk-cmk", Disk(
        location=LOCATION, sku=DiskSku(name="Premium_LRS"), disk_size_gb=1,
        creation_data=CreationData(create_option=DiskCreateOption.EMPTY),
        encryption=Encryption(type="EncryptionAtRestWithCustomerKey", disk_encryption_set_id=des.id))).result()
    assert disk.encryption.disk_encryption_set_id == des.id
    with pytest.raises(HttpResponseError) as refused:
        arm.compute.disks.begin_create_or_update(group, "disk-nodes", Disk(
            location=LOCATION, sku=DiskSku(name="Premium_LRS"), disk_size_gb=1,
            creation_data=CreationData(create_option=DiskCreateOption.EMPTY),
            encryption=Encryption(type="EncryptionAtRestWithCustomerKey",
                                  disk_encryption_set_id=des.id.replace("des-cmk", "des-missing")))).result()
    # Azure answers 400 BadRequest "DiskEncryptionSet '<id>' was not found." (the set is a parameter).
    assert (refused.value.status_code, refused.value.error.code) == (400, "BadRequest")
    assert refused.value.error.message.startswith(f"DiskEncryptionSet '{des.id.replace('des-cmk', 'des-missing')}' "
                                                  "was not found")
    assert refused.value.error.target == "encryption.diskEncryptionSetId"


def test_snapshot_and_disk_copied_from_it_keep_the_bytes(
    arm: Arm, group: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    blob = fixed_vhd(tmp_path, os.urandom(MIB) + bytes(MIB))
    source = import_disk(arm, group, "disk-source", upload_page_blob(arm, unique("snap-") + ".vhd", blob))
    snapshot = arm.compute.snapshots.begin_create_or_update(group, "snap-1", Snapshot(
        location=LOCATION, creation_data=CreationData(create_option=DiskCreateOption.COPY,
                                                      source_resource_id=source.id))).result()
    copy = arm.compute.disks.begin_create_or_update(group, "disk-copy", Disk(
        location=LOCATION, sku=DiskSku(name="Premium_LRS"), zones=["2"],
        creation_data=CreationData(create_option=DiskCreateOption.COPY, source_resource_id=snapshot.id))).result()
    assert copy.disk_size_bytes == 2 * MIB and copy.zones == ["2"]
    snapshot_access = arm.compute.snapshots.begin_grant_access(group, "snap-1", GrantAccessData(
        access="Read", duration_in_seconds=60)).result()
    assert requests.get(snapshot_access.access_sas, verify=arm.lab["ca_file"], timeout=30).content == blob
    arm.compute.snapshots.begin_revoke_access(group, "snap-1").result()
    assert requests.get(snapshot_access.access_sas, verify=arm.lab["ca_file"], timeout=30).status_code == 403
    access = arm.compute.disks.begin_grant_access(group, "disk-copy", GrantAccessData(
        access="Read", duration_in_seconds=60)).result()
    assert requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30).content == blob
    with pytest.raises(HttpResponseError) as refused:
        arm.compute.disks.begin_create_or_update(group, "disk-zone9", Disk(
            location=LOCATION, sku=DiskSku(name="Premium_LRS"), disk_size_gb=1, zones=["9"],
            creation_data=CreationData(create_option=DiskCreateOption.EMPTY))).result()
    assert refused.value.error.code == "InvalidParameter"


def test_the_read_link_lists_only_the_pages_a_disk_holds(arm: Arm, group: str, unique: Callable[[str], str],
                                                         tmp_path: Path) -> None:
    """Get Page Ranges on a disk's SAS, as post-cutover verification reads it: a never-written span costs nothing."""
    data = bytearray(12 * MIB)
    data[:4096] = os.urandom(4096)
    data[10 * MIB:10 * MIB + 4096] = os.urandom(4096)
    blob = fixed_vhd(tmp_path, bytes(data))  # upload_page_blob writes 4 MiB chunks: 0-4 MiB, 8-12 MiB, footer
    import_disk(arm, group, "disk-sparse", upload_page_blob(arm, unique("sparse-") + ".vhd", blob))
    access = arm.compute.disks.begin_grant_access(group, "disk-sparse", GrantAccessData(
        access="Read", duration_in_seconds=600)).result()
    link = BlobClient.from_blob_url(access.access_sas, connection_verify=arm.lab["ca_file"])

    assert [(r.start, r.end) for r in link.list_page_ranges()] == [(0, 4 * MIB - 1), (8 * MIB, 12 * MIB + 511)]
    assert [(r.start, r.end) for r in link.list_page_ranges(offset=9 * MIB, length=MIB)] == \
        [(9 * MIB, 10 * MIB - 1)]
    arm.compute.disks.begin_revoke_access(group, "disk-sparse").result()
    with pytest.raises(HttpResponseError) as refused:
        list(link.list_page_ranges())
    assert refused.value.status_code == 403


def test_a_disk_made_for_upload_takes_checked_page_writes_until_sealed(
    arm: Arm, group: str, tmp_path: Path
) -> None:
    """Direct upload: ReadyToUpload, a Write grant (ActiveUpload), Put Page with its Content-MD5 checked, sealed
    when access ends; a snapshot of it holds its bytes."""
    size = 24 * MIB
    image = bytearray(fixed_vhd(tmp_path, bytes(size)))
    image[3 * MIB:3 * MIB + 4096] = os.urandom(4096)
    arm.compute.disks.begin_create_or_update(group, "disk-up", Disk(
        location=LOCATION, sku=DiskSku(name="StandardSSD_LRS"),
        creation_data=CreationData(create_option=DiskCreateOption.UPLOAD, upload_size_bytes=size + 512))).result()
    assert arm.compute.disks.get(group, "disk-up").disk_state == "ReadyToUpload"
    with pytest.raises(HttpResponseError) as read_refused:
        arm.compute.disks.begin_grant_access(group, "disk-up", GrantAccessData(
            access="Read", duration_in_seconds=600)).result()
    assert read_refused.value.status_code == 409
    access = arm.compute.disks.begin_grant_access(group, "disk-up", GrantAccessData(
        access="Write", duration_in_seconds=600)).result()
    assert arm.compute.disks.get(group, "disk-up").disk_state == "ActiveUpload"
    upload = BlobClient.from_blob_url(access.access_sas, connection_verify=arm.lab["ca_file"])

    with pytest.raises(HttpResponseError) as too_large:
        upload.upload_page(bytes(8 * MIB), offset=0, length=8 * MIB)
    assert too_large.value.status_code == 413
    upload.clear_page(offset=0, length=16 * MIB)  # a clear is not bounded by 4 MiB: Azure takes the blob's size
    unaligned = requests.put(access.access_sas + "&comp=page", data=bytes(1000), verify=arm.lab["ca_file"],
                             headers={"x-ms-range": "bytes=100-1099", "x-ms-page-write": "update"}, timeout=30)
    assert unaligned.status_code == 416
    page = bytes(image[3 * MIB:3 * MIB + 4096])
    corrupted = requests.put(access.access_sas + "&comp=page", data=page[:-1] + b"\x01", verify=arm.lab["ca_file"],
                             headers={"x-ms-range": f"bytes={3 * MIB}-{3 * MIB + 4095}", "x-ms-page-write": "update",
                                      "Content-MD5": base64.b64encode(hashlib.md5(page).digest()).decode()},
                             timeout=30)
    assert (corrupted.status_code, corrupted.json()["error"]["code"]) == (400, "Md5Mismatch")
    corrupted = requests.put(access.access_sas + "&comp=page", data=page[:-1] + b"\x01", verify=arm.lab["ca_file"],
                             headers={"x-ms-range": f"bytes={3 * MIB}-{3 * MIB + 4095}", "x-ms-page-write": "update",
                                      "x-ms-content-crc64": base64.b64encode(transactional_crc64(page)).decode()},
                             timeout=30)
    assert (corrupted.status_code, corrupted.json()["error"]["code"]) == (400, "Crc64Mismatch")
    both = requests.put(access.access_sas + "&comp=page", data=page, verify=arm.lab["ca_file"],
                        headers={"x-ms-range": f"bytes={3 * MIB}-{3 * MIB + 4095}", "x-ms-page-write": "update",
                                 "x-ms-content-crc64": base64.b64encode(transactional_crc64(page)).decode(),
                                 "Content-MD5": base64.b64encode(hashlib.md5(page).digest()).decode()}, timeout=30)
    assert (both.status_code, both.json()["error"]["code"]) == (400, "InvalidHeaderValue")
    for header, value in (("x-ms-content-crc64", "not base64!"), ("x-ms-content-crc64", "AAAA"),
                          ("Content-MD5", base64.b64encode(bytes(8)).decode())):
        malformed = requests.put(access.access_sas + "&comp=page", data=page, verify=arm.lab["ca_file"],
                                 headers={"x-ms-range": f"bytes={3 * MIB}-{3 * MIB + 4095}",
                                          "x-ms-page-write": "update", header: value}, timeout=30)
        assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "InvalidHeaderValue"), value
    written = upload.upload_page(page, offset=3 * MIB, length=4096,
                                 transactional_content_crc64=transactional_crc64(page))
    assert written["content_crc64"] == transactional_crc64(page)
    assert requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30).status_code == 403  # write only
    upload.upload_page(bytes(image[size:]), offset=size, length=512, validate_content=True)
    arm.compute.disks.begin_revoke_access(group, "disk-up").result()
    assert arm.compute.disks.get(group, "disk-up").disk_state == "Unattached"
    with pytest.raises(HttpResponseError):
        upload.upload_page(page, offset=0, length=4096)  # the upload is over

    arm.compute.snapshots.begin_create_or_update(group, "disk-up-frozen", Snapshot(
        location=LOCATION, incremental=True, creation_data=CreationData(
            create_option=DiskCreateOption.COPY, source_resource_id=arm.compute.disks.get(group, "disk-up").id))
    ).result()
    read = arm.compute.snapshots.begin_grant_access(group, "disk-up-frozen", GrantAccessData(
        access="Read", duration_in_seconds=600)).result()
    assert requests.get(read.access_sas, verify=arm.lab["ca_file"], timeout=30).content == bytes(image)
    arm.compute.snapshots.begin_revoke_access(group, "disk-up-frozen").result()
