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
from arm_clients import ARM_SCOPE, Arm
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from vmshift.lab.ca import ensure_certificates

SPEC = Path(__file__).parents[1] / "lab-spec.json"
READY_WAIT_S = 60


@pytest.mark.lab
def test_lab_status_lists_the_arm_endpoint_authority_and_dns_port(arm: Arm) -> None:
    result = subprocess.run([sys.executable, "-m", "vmshift.cli", "lab", "status", "--json"],
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
            env={**os.environ, "VMSHIFT_ARM_CLIENT_SECRET": "restart-secret"},
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


def groups(ready: dict, ca_file: Path) -> ResourceManagementClient:
    credential = ClientSecretCredential(ready["tenant_id"], ready["client_id"], "restart-secret",
                                        authority=ready["authority"], disable_instance_discovery=True,
                                        connection_verify=str(ca_file))
    return ResourceManagementClient(credential, ready["subscription_id"], base_url=ready["endpoint"],
                                    credential_scopes=[ARM_SCOPE], connection_verify=str(ca_file))


def test_a_restarted_simulator_forgets_nothing(simulator: Simulator) -> None:
    first = simulator.start()
    groups(first, simulator.certs.ca_file).resource_groups.create_or_update(
        "rg-survivor", {"location": "northeurope", "tags": {"wave": "1"}})
    simulator.stop()
    second = simulator.start()
    survivor = groups(second, simulator.certs.ca_file).resource_groups.get("rg-survivor")
    assert (survivor.location, survivor.tags) == ("northeurope", {"wave": "1"})
