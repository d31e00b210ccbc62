"""One lab per test session, on random loopback ports in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab import launcher

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


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(lab folder, its lab.json entry) of the lab's Prefect server (vmshift/lab/prefect_server.py, on
    PostgreSQL), a separate process behind its API secret, started once for this session: for what goes
    through the CLI and the REST API, and for the reliability tests' wave steps."""
    folder = tmp_path_factory.mktemp("prefect-lab")
    try:
        yield folder, launcher.start_prefect_server(folder)["prefect"]
    finally:
        launcher.stop_prefect_server(folder)
