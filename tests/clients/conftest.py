"""The real-client suite: the clients a migration team already works with (a browser on the Prefect UI, the Azure
CLI, the Azure SDK for JavaScript, Ansible) pointed at what `make demo` built, on a lab of the demo's own.

Each client runs from an environment of its own under .cache/clients (`make clients`), never from .venv: their
pinned SDKs (azure.azcollection pins azure-mgmt-compute 33, the CLI its own) would replace the project's. What
they read is compared with what the project's Python SDK reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.storage import StorageManagementClient

from .demo_lab import AzureCli, Built, Demo, PythonSdk, client_tool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 900
ARM_SCOPE = "https://management.azure.com/.default"
LAB_CLOUD = "vmshiftlab"


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`python -m cli.demo` (what `make demo` runs) on a lab of its own, left up as the demo leaves it for the
    team to look at, and taken down after this folder's tests."""
    root = tmp_path_factory.mktemp("clients-demo")
    folder = root / "lab"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("VMSHIFT_", "PREFECT_", "AZURE_"))}
    env |= {"VMSHIFT_LAB_DIR": str(folder), "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    try:
        done = subprocess.run([sys.executable, "-m", "cli.demo"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=DEMO_TIMEOUT_S, check=False)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        yield Demo(folder, json.loads((folder / "lab.json").read_text()), done.stdout)
    finally:
        subprocess.run([sys.executable, "-m", "cli.command", "lab", "down"], env=env, cwd=PROJECT_ROOT,
                       capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="package")
def built() -> Built:
    return Built()


@pytest.fixture(scope="package")
def python_sdk(demo: Demo) -> PythonSdk:
    arm = demo.lab["arm"]
    # The reference reads, as the team's own identity (the lab's administrator app, Owner): vmshift's app holds
    # only what vmshift calls, which is less than a client's reads (a VM's instance view).
    credential = ClientSecretCredential(arm["tenant_id"], arm["admin_client_id"], arm["admin_client_secret"],
                                        authority=arm["authority"], disable_instance_discovery=True,
                                        connection_verify=demo.lab["ca_file"])
    options = {"base_url": arm["endpoint"], "credential_scopes": [ARM_SCOPE], "connection_verify": demo.lab["ca_file"]}
    return PythonSdk(*(cls(credential, arm["subscription_id"], **options) for cls in (
        ComputeManagementClient, NetworkManagementClient, PrivateDnsManagementClient, StorageManagementClient)))


@pytest.fixture(scope="package")
def az(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> AzureCli:
    """The Azure CLI with the demo's lab registered as a cloud and signed in as the lab's service principal."""
    arm = demo.lab["arm"]
    env = {
        "PATH": os.environ["PATH"],
        # A profile of this test run's own: no login, token cache or cloud left by an earlier run (the CLI keeps
        # them in ~/.azure), none left for the next.
        "AZURE_CONFIG_DIR": str(tmp_path_factory.mktemp("azure-cli-profile")),
        # The CLI reaches ARM and the authority through requests, which trusts certifi's bundle unless
        # REQUESTS_CA_BUNDLE names another; SSL_CERT_FILE is not read.
        "REQUESTS_CA_BUNDLE": demo.lab["ca_file"],
        # The lab's authority is no Entra ID instance MSAL knows: with discovery on (core.instance_discovery),
        # MSAL first asks login.microsoftonline.com about it.
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
        # Otherwise each command forks an uploader that tries to reach Azure's telemetry service.
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_NO_COLOR": "true",
    }
    cli = AzureCli(client_tool("az", "bin/az"), env)
    # `cloud register` without --skip-endpoint-discovery reads the lab's description of itself,
    # GET <ARM>/metadata/endpoints?api-version=2022-09-01: its authority and ARM's audience. The CLI then asks tokens
    # for the audience plus "/.default" ("https://management.azure.com//.default"), and lists the subscriptions.
    steps = [("cloud", "register", "--name", LAB_CLOUD, "--endpoint-resource-manager", arm["endpoint"]),
             ("cloud", "set", "--name", LAB_CLOUD),
             # The lab's secret is throwaway; a team signs its principal in with a certificate or federated token.
             # --password=: a secret may start with '-' (token_urlsafe's alphabet, as an Entra secret's, has it),
             # which argparse would take for an option.
             ("login", "--service-principal", "--username", arm["client_id"],
              f"--password={arm['client_secret']}", "--tenant", arm["tenant_id"]),
             # The lab's app reaches two subscriptions; the appliance's is the one the tests read.
             ("account", "set", "--subscription", arm["subscription_id"])]
    for step in steps:
        done = cli.run(*step)
        assert done.returncode == 0, f"az {step[0]} {step[1]} failed:\n{done.stderr[-3000:]}"
    return cli
