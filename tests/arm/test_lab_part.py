"""The simulator as a lab part: announced by `vmshift lab status`, and its state survives a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from arm_clients import Arm, admin_credential, management_client
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import NetworkRuleSet, StorageAccountUpdateParameters

from vmshift.lab.ca import ensure_certificates

SPEC = Path(__file__).parents[1] / "lab-spec.json"
READY_WAIT_S = 60


@pytest.mark.lab
def test_lab_status_lists_the_arm_endpoint_authority_and_dns_port(arm: Arm) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.command", "lab", "status", "--json"],
                            capture_output=True, text=True, check=True, env=os.environ)
    status = json.loads(result.stdout.strip().splitlines()[-1])
    assert status["arm"]["endpoint"] == arm.lab["arm"]["endpoint"]
    assert status["arm"]["authority"].startswith("https://127.0.0.1:")
    assert status["dns"]["port"] == arm.lab["dns"]["port"] > 0


class Simulator:
    """One simulator process of our own, so that it can be stopped and started again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.certs = ensure_certificates(folder / "ca")
        self.process: subprocess.Popen | None = None

    def start(self) -> dict:
        ready = self.folder / "arm.ready"
        ready.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vmshift.lab.arm", "--lab-dir", str(self.folder), "--spec", str(SPEC),
             "--cert", str(self.certs.cert_file), "--key", str(self.certs.key_file), "--ready-file", str(ready)],
            env={**os.environ, "VMSHIFT_ARM_CLIENT_SECRET": "restart-secret",
                 "VMSHIFT_ARM_ADMIN_SECRET": "restart-admin-secret"},
            stdout=subprocess.DEVNULL, stderr=(self.folder / "arm.log").open("ab"))
        deadline = time.monotonic() + READY_WAIT_S
        while not ready.exists():
            assert self.process.poll() is None, (self.folder / "arm.log").read_text()
            assert time.monotonic() < deadline, "the simulator wrote no ready file"
            time.sleep(0.1)
        return json.loads(ready.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    own = Simulator(tmp_path)
    yield own
    own.stop()


def own_arm(ready: dict, ca_file: Path) -> Arm:
    """The management clients, signed in to our own simulator as its subscription's owner."""
    lab = {"arm": {**ready, "client_secret": "restart-secret", "admin_client_secret": "restart-admin-secret"},
           "ca_file": str(ca_file)}
    credential = admin_credential(lab)
    return Arm(lab, credential, **{name: management_client(cls, lab, credential) for name, cls in (
        ("resources", ResourceManagementClient), ("network", NetworkManagementClient),
        ("private_dns", PrivateDnsManagementClient), ("storage", StorageManagementClient),
        ("compute", ComputeManagementClient))})


def endpoint_to(arm: Arm, name: str, account: str) -> PrivateEndpoint:
    """An automatically approved blob endpoint in the hub's endpoint subnet (seeded by the spec)."""
    account_id = arm.storage.storage_accounts.get_properties("rg-migration", account).id
    subnet = arm.network.subnets.get("rg-hub", "vnet-hub", "snet-endpoints")
    return arm.network.private_endpoints.begin_create_or_update("rg-hub", name, PrivateEndpoint(
        location="westeurope", subnet=Subnet(id=subnet.id), private_link_service_connections=[
            PrivateLinkServiceConnection(name=name, private_link_service_id=account_id, group_ids=["blob"])])).result()


def test_a_restarted_simulator_forgets_nothing(simulator: Simulator) -> None:
    first = own_arm(simulator.start(), simulator.certs.ca_file)
    first.resources.resource_groups.create_or_update("rg-survivor", {"location": "northeurope", "tags": {"wave": "1"}})
    first.storage.storage_accounts.update("rg-migration", "vmshiftcache01", StorageAccountUpdateParameters(
        public_network_access="Disabled", network_rule_set=NetworkRuleSet(default_action="Deny")))
    endpoint = endpoint_to(first, "pe-survivor", "vmshiftcache01")
    # The spec lets the lab app approve on vmshiftcache01 and not on vmshiftmanual01: both turned round.
    first.admin("/_lab/approvals", {"account": "vmshiftcache01", "caller_may_approve": False})
    first.admin("/_lab/approvals", {"account": "vmshiftmanual01", "caller_may_approve": True})
    simulator.stop()

    second = own_arm(simulator.start(), simulator.certs.ca_file)
    survivor = second.resources.resource_groups.get("rg-survivor")
    assert (survivor.location, survivor.tags) == ("northeurope", {"wave": "1"})
    cache = second.storage.storage_accounts.get_properties("rg-migration", "vmshiftcache01")
    assert (cache.public_network_access, cache.network_rule_set.default_action) == ("Disabled", "Deny")
    kept = second.network.private_endpoints.get("rg-hub", "pe-survivor")
    assert kept.network_interfaces[0].id == endpoint.network_interfaces[0].id
    assert kept.private_link_service_connections[0].private_link_service_connection_state.status == "Approved"
    assert [c.private_endpoint.id for c in second.storage.private_endpoint_connections.list(
        "rg-migration", "vmshiftcache01")] == [endpoint.id]
    with pytest.raises(HttpResponseError) as refused:
        endpoint_to(second, "pe-after-restart", "vmshiftcache01")
    assert refused.value.error.code == "LinkedAuthorizationFailed"
    assert endpoint_to(second, "pe-manual-account", "vmshiftmanual01").private_link_service_connections[0] \
        .private_link_service_connection_state.status == "Approved"
