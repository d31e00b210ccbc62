"""A Prefect server of its own (behind its auth string) for the reliability tests' flow runs, and the
environment a wave step's child process gets: the lab's (lab.env) plus the server's client settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab import launcher
from vmshift.lab.prefect_server import client_environment


@pytest.fixture(scope="session")
def rel_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(folder, lab.json entry) of a lab Prefect server started for the reliability tests alone: they count
    the runs of deployments that the flow tests also create, so sharing the flow tests' server breaks them."""
    folder = tmp_path_factory.mktemp("rel-prefect")
    with launcher.running_prefect_server(folder) as entry:
        yield folder, entry


@pytest.fixture
def step_env(lab: dict, rel_prefect: tuple[Path, dict]) -> dict[str, str]:
    """What a wave step's process needs besides the lab's environment (already set for the session)."""
    return client_environment(rel_prefect[1]) | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
