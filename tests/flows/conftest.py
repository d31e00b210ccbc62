"""Prefect servers for the flow tests, each started once per session (~5-25 s each).

`prefect_harness` (tests/conftest.py): Prefect's test harness (SQLite, in-process), for flows run from the tests.
`prefect_server`: the lab's own server (vmshift/lab/prefect_server.py, on PostgreSQL), a separate process behind its API
secret, for what goes through the CLI and the REST API (`prefect deploy`, plan upload, cutover calls); `deployed`:
that server with the work pool made and `vmshift deploy` run, once per module that asks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from vmshift.lab import launcher
from vmshift.lab.prefect_server import client_environment

PROJECT = Path(__file__).parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(lab folder, its lab.json entry) of a lab Prefect server started for this session."""
    folder = tmp_path_factory.mktemp("prefect-lab")
    with launcher.running_prefect_server(folder) as entry:
        yield folder, entry


@pytest.fixture(scope="module")
def deployed(prefect_server: tuple[Path, dict]) -> Iterator[dict]:
    """The lab server with the work pool created and `vmshift deploy` run, as the README says."""
    folder, entry = prefect_server
    env = {**os.environ, **client_environment(entry), "PREFECT_HOME": str(folder / "client")}
    for argv in ([PREFECT, "work-pool", "create", "vmshift", "--type", "process", "--overwrite"],
                 [str(Path(sys.executable).parent / "vmshift"), "deploy"]):
        done = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    with temporary_settings({PREFECT_API_URL: entry["api_url"], PREFECT_API_AUTH_STRING: entry["auth_string"]}):
        yield entry
