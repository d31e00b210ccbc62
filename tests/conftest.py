"""One lab per test session (per worker, under `make test`), on random loopback ports in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential
from prefect.testing.utilities import prefect_test_harness

from vmshift.azure.clients import AzureClients, AzureConfig
from vmshift.lab import launcher
from vmshift.lab.ca import ensure_certificates
from vmshift.lab.spec import load_spec
from vmshift.lab.vcsim_build import DEFAULT_CACHE, build_vcsim, running_vcsim
from vmshift.migration import private_link
from vmshift.migration.appliance import Appliance
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect

TEST_SPEC = Path(__file__).parent / "lab-spec.json"
# `make test` runs the suite on two workers (pytest-xdist, --dist loadgroup), each with a lab of its own. Each top
# folder of tests/ is one group, run whole on one worker: its folder's session fixtures (the prepared guests, the
# reliability server, the demo of the real clients) are built once. The folders that take longest go first, so
# that the two workers end together (seconds from `--durations`, serial run of f68c0f7).
LONGEST_FIRST = ("preparation",  # ~900 s: four guests prepared and cut over under TCG
                 "reliability",  # ~900 s: the demo, kills and server faults
                 "flows",  # ~750 s
                 "clients")  # ~250 s: a demo of its own, then the clients


def _folder(item: pytest.Item) -> str:
    parts = item.path.relative_to(Path(__file__).parent).parts
    return parts[0] if len(parts) > 1 else "tests"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    longest = {folder: rank for rank, folder in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: longest.get(_folder(item), len(longest)))  # stable: a folder keeps its order
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            item.add_marker(pytest.mark.xdist_group(_folder(item)))


class LabInfo(dict):
    """lab.json; shown masked, since pytest prints a failing test's arguments into CI logs."""

    def __repr__(self) -> str:
        return repr(launcher.masked(self))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The parsed lab.json (credentials included) of a lab started for this session.

    The product's environment (lab.env) is set for the whole session, as a user would `source` it.
    """
    folder = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VMSHIFT_LAB_DIR", str(folder))
        try:
            started = launcher.up(folder, TEST_SPEC, cache_dir=launcher.PROJECT_ROOT / ".cache")
            assert started["healthy"], started
            for name, value in launcher.lab_env(started).items():
                patch.setenv(name, value)
            yield LabInfo(started)
        finally:
            launcher.down(folder)


@pytest.fixture(scope="session")
def cache_reached_privately(lab: dict) -> str:
    """The lab cache account vmshiftcache01 behind its private endpoint, its private DNS and a passing DNS gate, as
    a wave's first steps leave them: for tests that cut over or prepare VMs they replicated directly, not through
    a wave, since those steps ask the gate before they write to the account."""
    account, appliance = "vmshiftcache01", Appliance.from_env()
    endpoint = private_link.reach_endpoint(account, "westeurope", appliance)
    private_link.setup_private_dns(endpoint, appliance)
    private_link.check_gate(account, endpoint, appliance)
    return account


@pytest.fixture(scope="session")
def owner(lab: dict) -> AzureClients:
    """Azure clients signed in as the lab subscription's owner (the lab's administrator app): what a test sets up
    or breaks on purpose that vmshift's own identity, holding only the documented roles, may not."""
    arm = lab["arm"]
    credential = ClientSecretCredential(arm["tenant_id"], arm["admin_client_id"], arm["admin_client_secret"],
                                        authority=arm["authority"], disable_instance_discovery=True,
                                        connection_verify=lab["ca_file"])
    return AzureClients(AzureConfig(arm["subscription_id"], arm["endpoint"], lab["ca_file"]), credential)


@pytest.fixture
def lab_dir(lab: dict) -> Path:
    """The folder of the session's lab (lab.json, logs, datastores)."""
    return launcher.lab_dir()


@contextmanager
def _private_vcenter(folder: Path, password: str, spec_file: Path) -> Iterator[tuple[dict, VSphereSession]]:
    certs = ensure_certificates(folder / "ca")
    binary = build_vcsim(DEFAULT_CACHE)
    # As the launcher does: the spec validated, its defaults filled in (the vCenter user's role among them).
    resolved = folder / "spec.resolved.json"
    resolved.write_text(load_spec(spec_file).model_dump_json(exclude_none=True))
    with running_vcsim(binary, resolved, certs.cert_file, certs.key_file, folder / "vcenter", password) as ready:
        lab = {"ca_file": str(certs.ca_file), "vcenter": {**ready, "password": password}}
        config = VCenterConfig(url=ready["url"], user=ready["user"], password=password,
                               datacenter=ready["datacenter"], ca_file=str(certs.ca_file))
        with connect(config) as session:
            yield lab, session


@pytest.fixture(scope="session")
def private_vcenter() -> Callable[[Path, str, Path], AbstractContextManager[tuple[dict, VSphereSession]]]:
    """Starts a vCenter of a test's own (to restart it, say), on a state folder that survives a restart:
    `with private_vcenter(folder, password, spec) as (lab.json-shaped entry, session)`."""
    return _private_vcenter


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness (SQLite, in-process) for flows run from the tests, started once per session: the flow
    tests and the preparation tests (which test-migrate the lab's guests through the flow) share it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=180):
            yield
