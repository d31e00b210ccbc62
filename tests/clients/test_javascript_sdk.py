"""The Azure SDK for JavaScript (npm @azure/identity and @azure/arm-*, as .cache/clients/js installs them from
tests/clients/js/package-lock.json) reads what the demo's migration built and runs a long-running operation against
the lab, and reads what the project's Python SDK reads.

Gotchas, each met here:
- Node trusts neither REQUESTS_CA_BUNDLE nor SSL_CERT_FILE: NODE_EXTRA_CA_CERTS, read once at start, adds the lab CA.
- `disableInstanceDiscovery: true`, or MSAL asks login.microsoftonline.com about the lab's authority first.
- The script (tests/clients/js/reads.cjs) lives beside its manifest, its packages under .cache: NODE_PATH tells
  CommonJS's require() where they are.
- The secret goes by the environment, never on the command line (`ps` shows that).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError

from . import resource_views as view
from .demo_lab import Built, Demo, PythonSdk, client_tool

pytestmark = [pytest.mark.lab, pytest.mark.clients]

SCRIPT = Path(__file__).with_name("js") / "reads.cjs"
LRO_DISK = "js-lro-disk"
NODE_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def js_reads(demo: Demo, built: Built) -> dict:
    """What reads.cjs printed: the SDK's models, the created disk and every request it sent."""
    arm = demo.lab["arm"]
    config = {"endpoint": arm["endpoint"], "authority": arm["authority"], "tenantId": arm["tenant_id"],
              "clientId": arm["client_id"], "subscriptionId": arm["subscription_id"], "location": "westeurope",
              "group": built.group, "vm": built.vm, "storageGroup": built.storage_group,
              "cacheAccount": built.cache_account, "privateEndpoint": built.private_endpoint,
              "dnsGroup": built.dns_group, "dnsZone": built.dns_zone, "lroDisk": LRO_DISK}
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "NODE_PATH": str(client_tool("js", "node_modules")), "NODE_EXTRA_CA_CERTS": demo.lab["ca_file"],
           "AZURE_CLIENT_SECRET": arm["client_secret"]}
    done = subprocess.run(["node", str(SCRIPT), json.dumps(config)], env=env, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"node {SCRIPT.name} failed: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_migrated_vm_reads_the_same_in_javascript(js_reads: dict, python_sdk: PythonSdk, built: Built) -> None:
    assert view.virtual_machine(js_reads["vm"]) == view.virtual_machine(python_sdk.virtual_machine(built))


def test_its_disks_and_nic_read_the_same_in_javascript(js_reads: dict, python_sdk: PythonSdk, built: Built) -> None:
    assert view.disks(js_reads["disks"]) == view.disks(python_sdk.disks(built))
    nic_id = js_reads["vm"]["networkProfile"]["networkInterfaces"][0]["id"]
    assert view.network_interface(js_reads["nic"]) == view.network_interface(python_sdk.network_interface(nic_id))


def test_the_private_link_reads_the_same_in_javascript(js_reads: dict, python_sdk: PythonSdk, built: Built) -> None:
    expected_endpoint = python_sdk.private_endpoint(built)
    assert view.private_endpoint(js_reads["privateEndpoint"]) == view.private_endpoint(expected_endpoint)
    assert view.a_records(js_reads["aRecords"]) == view.a_records(python_sdk.a_records(built))
    assert built.cache_account in {name for name, _, _ in view.a_records(js_reads["aRecords"])}
    assert view.storage_account(js_reads["storageAccount"]) == view.storage_account(python_sdk.storage_account(built))


def test_a_disk_created_through_the_javascript_poller_exists_until_it_deletes_it(
        js_reads: dict, python_sdk: PythonSdk, built: Built) -> None:
    created = view.disk(js_reads["createdDisk"])
    assert (created["name"], created["createOption"], created["diskSizeGB"], created["provisioningState"]) == \
        (LRO_DISK, "Empty", 1, "Succeeded")
    assert view.disk(js_reads["createdDiskRead"]) == created
    # ARM answers the disk's PUT and DELETE 202 with an operation to poll: the poller asked for its status until it
    # ended, each time, before it gave the disk back or returned from the delete.
    sent = [(r["method"], "status" if "/operations/" in r["path"] else r["path"].rsplit("/", 1)[-1], r["status"])
            for r in js_reads["requests"]]
    put, delete = sent.index(("PUT", LRO_DISK, 202)), sent.index(("DELETE", LRO_DISK, 202))
    assert ("GET", "status", 200) in sent[put:delete] and ("GET", "status", 200) in sent[delete:]
    with pytest.raises(ResourceNotFoundError):
        python_sdk.compute.disks.get(built.group, LRO_DISK)


def test_every_request_it_sent_was_answered_and_names_its_api_version(js_reads: dict) -> None:
    assert [r for r in js_reads["requests"] if r["status"] >= 400] == []
    assert all(r["apiVersion"] for r in js_reads["requests"])
