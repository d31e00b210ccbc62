"""One lab per test session, on random loopback ports in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from vmshift.lab import launcher
from vmshift.lab.ca import ensure_certificates
from vmshift.lab.vcsim_build import DEFAULT_CACHE, build_vcsim, running_vcsim
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect

TEST_SPEC = Path(__file__).parent / "lab-spec.json"


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


@pytest.fixture
def lab_dir(lab: dict) -> Path:
    """The folder of the session's lab (lab.json, logs, datastores)."""
    return launcher.lab_dir()


@contextmanager
def _private_vcenter(folder: Path, password: str, spec_file: Path) -> Iterator[tuple[dict, VSphereSession]]:
    certs = ensure_certificates(folder / "ca")
    binary = build_vcsim(DEFAULT_CACHE)
    with running_vcsim(binary, spec_file, certs.cert_file, certs.key_file, folder / "vcenter", password) as ready:
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
