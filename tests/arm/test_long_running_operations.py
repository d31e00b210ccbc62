"""Long-running operations as ARM runs them: the resource reads Creating/Updating and its operation
InProgress until the operation is polled to Succeeded, so the SDK's pollers really poll."""

from __future__ import annotations

import pytest
from arm_clients import LOCATION, Arm
from azure.core.pipeline import PipelineResponse
from raw_arm import arm_get

pytestmark = pytest.mark.lab


def operation_status(arm: Arm, url: str) -> str:
    response = arm_get(arm, url)
    response.raise_for_status()
    return response.json()["status"]


def test_vnet_reads_creating_then_updating_until_its_operation_is_polled_to_succeeded(
    arm: Arm, group: str
) -> None:
    answers: list[PipelineResponse] = []
    body = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.71.0.0/16"]}}}

    def put_without_polling() -> str:
        arm.network.virtual_networks.begin_create_or_update(group, "vnet-lro", body, polling=False,
                                                            raw_response_hook=answers.append)
        [put] = [a for a in answers if a.http_request.method == "PUT"]
        answers.clear()
        return put.http_response.headers["Azure-AsyncOperation"]

    created = put_without_polling()
    assert arm.network.virtual_networks.get(group, "vnet-lro").provisioning_state == "Creating"
    assert operation_status(arm, created) == "InProgress"
    assert arm.network.virtual_networks.get(group, "vnet-lro").provisioning_state == "Creating"
    assert operation_status(arm, created) == "Succeeded"
    assert arm.network.virtual_networks.get(group, "vnet-lro").provisioning_state == "Succeeded"

    updated = put_without_polling()
    assert updated != created
    assert arm.network.virtual_networks.get(group, "vnet-lro").provisioning_state == "Updating"
    assert operation_status(arm, updated) == "InProgress"
    assert operation_status(arm, updated) == "Succeeded"
    assert arm.network.virtual_networks.get(group, "vnet-lro").provisioning_state == "Succeeded"


def test_sdk_poller_polls_the_operation_until_it_succeeds(arm: Arm, group: str) -> None:
    polls: list[str] = []

    def record_poll(response: PipelineResponse) -> None:
        if "/operations/" in response.http_request.url:
            polls.append(response.http_response.json()["status"])

    body = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.72.0.0/16"]}}}
    vnet = arm.network.virtual_networks.begin_create_or_update(group, "vnet-polled", body,
                                                               raw_response_hook=record_poll).result()
    assert vnet.provisioning_state == "Succeeded"
    assert len(polls) > 1
    assert polls == ["InProgress"] * (len(polls) - 1) + ["Succeeded"]


def test_disk_create_answers_202_and_its_location_gives_the_disk_once_done(arm: Arm, group: str) -> None:
    answers: list[PipelineResponse] = []
    arm.compute.disks.begin_create_or_update(group, "disk-lro", {
        "location": LOCATION, "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}},
        polling=False, raw_response_hook=answers.append)
    [put] = [a.http_response for a in answers if a.http_request.method == "PUT"]
    assert put.status_code == 202
    assert arm.compute.disks.get(group, "disk-lro").provisioning_state == "Creating"
    pending = arm_get(arm, put.headers["Location"])
    assert (pending.status_code, pending.content) == (202, b"")
    done = arm_get(arm, put.headers["Location"])
    assert done.status_code == 200
    assert done.json()["properties"]["provisioningState"] == "Succeeded"
    assert arm.compute.disks.get(group, "disk-lro").provisioning_state == "Succeeded"


def test_an_operation_is_polled_in_the_region_of_the_resource_it_acts_on(arm: Arm, group: str) -> None:
    """Azure names the resource's region in the operation URL of a DELETE and of a POST action, as of a PUT."""
    answers: list[PipelineResponse] = []
    arm.compute.disks.begin_create_or_update(group, "disk-region", {
        "location": LOCATION, "sku": {"name": "Standard_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}).result()
    subnet = {"name": "s1", "properties": {"addressPrefix": "10.73.1.0/24"}}
    arm.network.virtual_networks.begin_create_or_update(group, "vnet-region", {
        "location": LOCATION,
        "properties": {"addressSpace": {"addressPrefixes": ["10.73.0.0/16"]}, "subnets": [subnet]}}).result()

    arm.compute.disks.begin_grant_access(group, "disk-region", {"access": "Read", "durationInSeconds": 60},
                                         raw_response_hook=answers.append).result()
    arm.compute.disks.begin_revoke_access(group, "disk-region", raw_response_hook=answers.append).result()
    arm.compute.disks.begin_delete(group, "disk-region", raw_response_hook=answers.append).result()
    arm.network.subnets.begin_delete(group, "vnet-region", "s1", raw_response_hook=answers.append).result()
    arm.network.virtual_networks.begin_delete(group, "vnet-region", raw_response_hook=answers.append).result()

    started = [a.http_response for a in answers if a.http_request.method in ("POST", "DELETE")]
    assert len(started) == 5
    for response in started:
        for header in ("Azure-AsyncOperation", "Location"):
            assert f"/locations/{LOCATION}/operation" in response.headers[header], response.headers[header]
