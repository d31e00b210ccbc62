"""Prefect servers for the flow tests, each started once per session (~5-25 s each).

`prefect_harness` (tests/conftest.py): Prefect's test harness (SQLite, in-process), for flows run from the tests.
`prefect_server`: the lab's own server (vmshift/lab/prefect_server.py, on PostgreSQL), a separate process behind its API
secret, for what goes through the CLI and the REST API (`prefect deploy`, plan upload, cutover calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab import launcher


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(lab folder, its lab.json entry) of a lab Prefect server started for this session."""
    folder = tmp_path_factory.mktemp("prefect-lab")
    with launcher.running_prefect_server(folder) as entry:
        yield folder, entry
