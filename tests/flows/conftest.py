"""Prefect's test harness for the flow tests, started once per session (~10-25 s).

`prefect_harness`: Prefect's test harness (SQLite, in-process), for flows run from the tests.
`prefect_server` (tests/conftest.py): the lab's own server, for what goes through the CLI and the REST API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=180):
            yield
