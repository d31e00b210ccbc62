"""What the real clients are pointed at (a finished demo's lab, what its wave built, the Python SDK on it as the
reference) and where each client is installed: an environment of its own under .cache/clients (`make clients`)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.storage import StorageManagementClient

CLIENTS = Path(__file__).resolve().parents[2] / ".cache" / "clients"
AZ_TIMEOUT_S = 300  # one command starts in ~3 s; far more on a busy 2-core machine


@dataclass(frozen=True)
class Demo:
    """A finished `make demo`: its lab folder, lab.json (credentials included) and what it printed."""

    folder: Path
    lab: dict = field(repr=False)
    printed: str = field(repr=False)

    @property
    def ui_address(self) -> str:
        """The address the demo told its user to open, as printed."""
        found = re.search(r"Prefect UI: (\S+)", self.printed)
        assert found, f"the demo printed no Prefect UI address:\n{self.printed[-2000:]}"
        return found.group(1)


@dataclass(frozen=True)
class Built:
    """What the demo's wave-1 left in Azure, as examples/waves.csv and the lab's default spec name it."""

    group: str = "rg-target"
    vm: str = "win-sql-01"
    storage_group: str = "rg-migration"
    cache_account: str = "vmshiftcache01"
    private_endpoint: str = "pe-vmshiftcache01-blob"
    dns_group: str = "rg-hub"
    dns_zone: str = "privatelink.blob.core.windows.net"
    wave_vms: tuple[str, ...] = ("win-sql-01", "web-rhel-02")


@dataclass(frozen=True)
class PythonSdk:
    """The project's own clients (azure-mgmt-* of .venv) on the demo's ARM: what every other client is held to.
    Each read answers ARM's wire JSON (`as_dict()`)."""

    compute: ComputeManagementClient
    network: NetworkManagementClient
    privatedns: PrivateDnsManagementClient
    storage: StorageManagementClient

    def virtual_machine(self, built: Built) -> dict:
        return self.compute.virtual_machines.get(built.group, built.vm).as_dict()

    def disks(self, built: Built) -> list[dict]:
        return [disk.as_dict() for disk in self.compute.disks.list_by_resource_group(built.group)]

    def network_interface(self, nic_id: str) -> dict:
        parts = nic_id.split("/")
        return self.network.network_interfaces.get(parts[4], parts[-1]).as_dict()

    def private_endpoint(self, built: Built) -> dict:
        return self.network.private_endpoints.get(built.storage_group, built.private_endpoint).as_dict()

    def a_records(self, built: Built) -> list[dict]:
        return [r.as_dict() for r in self.privatedns.record_sets.list_by_type(built.dns_group, built.dns_zone, "A")]

    def storage_account(self, built: Built) -> dict:
        return self.storage.storage_accounts.get_properties(built.storage_group, built.cache_account).as_dict()


@dataclass(frozen=True)
class AzureCli:
    """The Azure CLI of .cache/clients/az, logged in to the lab in a profile of this test run's own."""

    executable: Path
    env: dict[str, str] = field(repr=False)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.executable), *args], env=self.env, capture_output=True, text=True,
                              timeout=AZ_TIMEOUT_S, check=False)

    def read(self, *args: str) -> tuple[Any, list[SentRequest]]:
        """A command's JSON answer, and each request it sent to ARM (from its --debug log: method elided, the
        URL with its api-version, and the status)."""
        done = self.run(*args, "--output", "json", "--debug")
        assert done.returncode == 0, f"az {' '.join(args)} failed:\n{_errors(done.stderr)}"
        return json.loads(done.stdout), sent_requests(done.stderr)


@dataclass(frozen=True)
class SentRequest:
    path: str
    api_version: str | None
    status: int


def sent_requests(debug_log: str) -> list[SentRequest]:
    """The requests a CLI command logged with --debug (azure-core's logging policy: URL, then status)."""
    urls = re.findall(r"Request URL: '([^']+)'", debug_log)
    statuses = [int(status) for status in re.findall(r"Response status: (\d+)", debug_log)]
    return [_sent(url, status) for url, status in zip(urls, statuses, strict=False)]


def _sent(url: str, status: int) -> SentRequest:
    parsed = urlsplit(url)
    return SentRequest(parsed.path, parse_qs(parsed.query).get("api-version", [None])[0], status)


class ArmLog:
    """The lab ARM's request log (<lab>/logs/arm.log, one line per call with its api-version and answer), read from
    where it stood when this was made: what a client sent meanwhile, when the client itself does not say."""

    LINE = re.compile(r" INFO [A-Z]+ (\S+) -> (\d{3})")

    def __init__(self, demo: Demo) -> None:
        self.path = demo.folder / "logs" / "arm.log"
        self.start = self.path.stat().st_size

    def sent(self) -> list[SentRequest]:
        with self.path.open("rb") as log:
            log.seek(self.start)
            lines = log.read().decode(errors="replace").splitlines()
        return [_sent(match[1], int(match[2])) for match in map(self.LINE.search, lines) if match]


def _errors(stderr: str) -> str:
    """What the CLI printed for the user (its ERROR lines), without the --debug noise."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith(("DEBUG:", "INFO:")))[-3000:]


def client_tool(environment: str, tool: str) -> Path:
    """An executable (or folder) of one client's environment."""
    path = CLIENTS / environment / tool
    if not path.exists():
        pytest.fail(f"{path} is not installed: `make clients` installs the real-client suite under {CLIENTS}")
    return path
