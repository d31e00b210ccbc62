"""The lab's Prefect server: `prefect server start` on loopback, its database on the lab's PostgreSQL
(vmshift/lab/postgres.py), its API behind a secret.

The server runs with PREFECT_SERVER_API_AUTH_STRING so that the cutover API refuses callers without the
lab's credentials, as a team's own server should; clients set PREFECT_API_AUTH_STRING to the same value.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import requests

from vmshift.lab import process
from vmshift.lab.process import PartProcess

READY_TIMEOUT_S = 120.0  # the migrations of a first start take seconds, minutes on a busy 2-core machine
HEALTH_TIMEOUT_S = 5.0


def start_prefect(folder: Path, part: PartProcess, database_url: str, port: int = 0) -> dict:
    """Start the server (if it is not running) on that database and wait until it answers; `port` 0 picks one.

    Returns the lab.json entry: `{"api_url", "auth_string", "ui_url", "healthy": true}`.
    """
    home = folder / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    auth_string = _auth_string(home)
    port_file = home / "port"
    if part.pid() is None:
        port = port or process.free_port()
        port_file.write_text(str(port))
        process.start(
            part,
            [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(port), "--analytics-off", "--no-prompt"],
            server_environment(home, auth_string, database_url, _api_url(port)),
            cwd=home,
        )
    api_url = _api_url(int(port_file.read_text()))
    process.wait_until(part, lambda: prefect_healthy(api_url, auth_string), READY_TIMEOUT_S)
    return {"api_url": api_url, "ui_url": ui_url(api_url), "auth_string": auth_string, "healthy": True}


def ui_url(api_url: str) -> str:
    """Where a person opens the UI: the server serves it beside its API."""
    return api_url.removesuffix("/api")


def server_environment(home: Path, auth_string: str, database_url: str, api_url: str) -> dict[str, str]:
    """What the server process needs: its own home and database, no analytics, the API secret, and the address
    the UI's pages call.

    `--port` moves the API but not the UI: the browser asks /ui-settings where the API is, and the server answers
    PREFECT_SERVER_UI_API_URL, else PREFECT_API_URL of its own environment (a test's, or another lab's), else
    PREFECT_SERVER_API_HOST:PORT (4200). Without it every page says "Can't connect to Server API at
    http://127.0.0.1:4200/api". PREFECT_UI_URL is where the links it writes (in events, notifications) point.
    """
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_AUTH_STRING": auth_string,
        "PREFECT_SERVER_UI_API_URL": api_url,
        "PREFECT_UI_URL": ui_url(api_url),
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        # The recorder's default is one transaction per task-run event: thousands a minute in a wide wave.
        # Batched, the same events cost a few transactions a second (bench/orchestration.py).
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "2",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "2",
    }


def client_environment(entry: dict) -> dict[str, str]:
    """What a client (worker, CLI, `prefect deploy`) needs to reach the lab's server."""
    return {"PREFECT_API_URL": entry["api_url"], "PREFECT_API_AUTH_STRING": entry["auth_string"]}


def prefect_healthy(api_url: str, auth_string: str) -> bool:
    """The server answers its health probe and accepts the lab's credentials on an authenticated route."""
    token = base64.b64encode(auth_string.encode()).decode()
    try:
        health = requests.get(f"{api_url}/health", timeout=HEALTH_TIMEOUT_S)
        version = requests.get(f"{api_url}/admin/version", headers={"Authorization": f"Basic {token}"},
                               timeout=HEALTH_TIMEOUT_S)
    except requests.RequestException:
        return False
    return health.ok and version.ok


def _api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def _auth_string(home: Path) -> str:
    """Made once per lab folder, so that a restarted server accepts the clients already configured.

    In `user:password` form, so that `curl -u "$PREFECT_API_AUTH_STRING"` sends exactly the header Prefect checks.
    """
    return process.kept_secret(home / "auth-string", prefix="vmshift:")

