"""The environment a wave step's child process gets: the lab's (lab.env) plus the client settings of the
session's Prefect server (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmshift.lab.prefect_server import client_environment


@pytest.fixture
def step_env(lab: dict, prefect_server: tuple[Path, dict]) -> dict[str, str]:
    """What a wave step's process needs besides the lab's environment (already set for the session)."""
    return client_environment(prefect_server[1]) | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
