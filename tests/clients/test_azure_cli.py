"""The Azure CLI (PyPI azure-cli, .cache/clients/az), as a migration engineer checks a migration with it: the lab
registered as a cloud, signed in as the lab's service principal through the lab's authority, then what the demo's
wave built read with `az` and compared with what the project's Python SDK reads. The CLI's gotchas are where its
profile is made, in conftest.py's `az`."""

from __future__ import annotations

import pytest

from . import resource_views as view
from .demo_lab import AzureCli, Built, Demo, PythonSdk, SentRequest

pytestmark = [pytest.mark.lab, pytest.mark.clients]

UNPUBLISHED_API_VERSION = "2099-01-01"


def refused(sent: list[SentRequest]) -> list[SentRequest]:
    """The requests ARM refused; empty when the command went through the lab as it would through Azure."""
    return [request for request in sent if request.status >= 400]


def test_az_signs_in_through_the_lab_authority_and_finds_the_lab_subscription(az: AzureCli, demo: Demo) -> None:
    account, _ = az.read("account", "show")
    arm = demo.lab["arm"]
    assert (account["id"], account["tenantId"], account["environmentName"]) == \
        (arm["subscription_id"], arm["tenant_id"], "vmshiftlab")
    assert account["user"] == {"name": arm["client_id"], "type": "servicePrincipal"}
    # The authority came from the lab's /metadata/endpoints, which `cloud register` read.
    cloud, _ = az.read("cloud", "show", "--name", "vmshiftlab")
    assert (cloud["endpoints"]["resourceManager"], cloud["endpoints"]["activeDirectory"]) == \
        (arm["endpoint"], arm["authority"])


# What a migration engineer runs to see what a wave built: the command, the Python SDK's read of the same resource
# (ARM's wire JSON) and the fields both are held to (resource_views).
READS = {
    "vm show": (lambda b: ("vm", "show", "--resource-group", b.group, "--name", b.vm),
                PythonSdk.virtual_machine, view.virtual_machine),
    "disk list": (lambda b: ("disk", "list", "--resource-group", b.group), PythonSdk.disks, view.disks),
    "network private-endpoint show": (
        lambda b: ("network", "private-endpoint", "show", "--resource-group", b.storage_group,
                   "--name", b.private_endpoint),
        PythonSdk.private_endpoint, view.private_endpoint),
    "network private-dns record-set a list": (
        lambda b: ("network", "private-dns", "record-set", "a", "list", "--resource-group", b.dns_group,
                   "--zone-name", b.dns_zone),
        PythonSdk.a_records, view.a_records),
    "storage account show": (
        lambda b: ("storage", "account", "show", "--resource-group", b.storage_group, "--name", b.cache_account),
        PythonSdk.storage_account, view.storage_account),
}


@pytest.mark.parametrize("command", READS)
def test_az_reads_what_the_migration_built_as_the_python_sdk_does(
        command: str, az: AzureCli, python_sdk: PythonSdk, built: Built) -> None:
    arguments, python_read, fields = READS[command]
    answer, sent = az.read(*arguments(built))
    expected = fields(python_read(python_sdk, built))
    assert expected, "the Python SDK read nothing to compare with"
    assert fields(answer) == expected
    assert refused(sent) == []


def test_az_network_nic_show_reads_the_vm_nic_as_the_python_sdk_does(
        az: AzureCli, python_sdk: PythonSdk, built: Built) -> None:
    vm, _ = az.read("vm", "show", "--resource-group", built.group, "--name", built.vm)
    nic_id = vm["networkProfile"]["networkInterfaces"][0]["id"]
    nic, sent = az.read("network", "nic", "show", "--ids", nic_id)
    assert view.network_interface(nic) == view.network_interface(python_sdk.network_interface(nic_id))
    assert refused(sent) == []


def test_an_unpublished_api_version_is_refused_with_arms_error_as_az_prints_it(
        az: AzureCli, python_sdk: PythonSdk, built: Built) -> None:
    vm_id = python_sdk.virtual_machine(built)["id"]
    done = az.run("resource", "show", "--ids", vm_id, "--api-version", UNPUBLISHED_API_VERSION)
    assert done.returncode != 0
    # As Azure answers it: the code, the version asked for, and the versions the type has.
    assert "(NoRegisteredProviderFound)" in done.stderr, done.stderr
    assert UNPUBLISHED_API_VERSION in done.stderr
    assert "The supported api-versions are" in done.stderr
