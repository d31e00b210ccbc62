"""What a step built before Azure refused the rest, named in its error: no server needed."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.core.exceptions import ARMErrorFormat

from vmshift.azure.built import naming_what_exists
from vmshift.azure.errors import BuildIncomplete

DISK = "/subscriptions/s/resourceGroups/rg-target/providers/Microsoft.Compute/disks/"
REFUSAL = ("The client 'c' with object id 'o' does not have authorization to perform action "
           "'Microsoft.Compute/disks/beginGetAccess/action' over scope '/subscriptions/s/resourceGroups/rg-target' or "
           "the scope is invalid. If access was recently granted, please refresh your credentials.")


class _Response:
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        self.reason = "lab"
        self.headers = {"content-type": "application/json"}
        self.request = None
        self._body = json.dumps({"error": {"code": code, "message": message}})

    def text(self) -> str:
        return self._body


def arm_error(status: int, code: str = "AuthorizationFailed", message: str = REFUSAL) -> HttpResponseError:
    return HttpResponseError(response=_Response(status, code, message), error_format=ARMErrorFormat)


def test_a_refusal_names_what_was_built_until_then_with_arms_own_reason_and_how_to_clean_up() -> None:
    built = [f"{DISK}vm-osdisk"]
    with pytest.raises(BuildIncomplete) as refused, \
            naming_what_exists("the staging of VM vm's disks", built, "a rollback of the VM with its disks"):
        built.append(f"{DISK}vm-datadisk-0")
        raise arm_error(403)

    assert refused.value.built == (f"{DISK}vm-osdisk", f"{DISK}vm-datadisk-0")
    assert str(refused.value) == (
        f"Azure refused the staging of VM vm's disks (AuthorizationFailed: {REFUSAL}). What exists of it:\n"
        f"  - {DISK}vm-osdisk\n  - {DISK}vm-datadisk-0\n"
        "Fix what Azure names and run the step again (it reuses or replaces what exists), or delete them (a rollback "
        "of the VM with its disks)")
    assert refused.value.__cause__ is refused.value.error


def test_a_parts_refusal_names_what_the_whole_built_before_it_once_each() -> None:
    staged = [f"{DISK}vm-osdisk"]
    with pytest.raises(BuildIncomplete) as refused, \
            naming_what_exists("the staging of VM vm's disks", staged, "a rollback of the VM with its disks"), \
            naming_what_exists("the staging of managed disk vm-datadisk-0",
                               [f"{DISK}vm-osdisk", f"{DISK}vm-datadisk-0"], "delete it"):
        raise arm_error(403)

    assert refused.value.what == "the staging of VM vm's disks"
    assert refused.value.built == (f"{DISK}vm-osdisk", f"{DISK}vm-datadisk-0")
    assert "a rollback of the VM with its disks" in str(refused.value) and REFUSAL in str(refused.value)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_throttling_and_server_errors_go_through_as_they_are_for_the_retry(status: int) -> None:
    error = arm_error(status, "Throttled", "try later")
    with pytest.raises(HttpResponseError) as raised, \
            naming_what_exists("the staging of VM vm's disks", [f"{DISK}vm-osdisk"], "a rollback"):
        raise error
    assert raised.value is error


def test_a_refusal_without_an_arm_error_code_reads_as_its_message_alone() -> None:
    refused = BuildIncomplete("the link", (f"{DISK}d",), HttpResponseError(
        message="Operation returned an invalid status 'Forbidden'"), "delete it", "run it again")
    assert str(refused).startswith("Azure refused the link (Operation returned an invalid status 'Forbidden').")
