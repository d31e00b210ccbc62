"""The lab's Prefect server: starts on loopback with SQLite in the lab folder and refuses callers without its secret."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import requests

from vmshift.lab.prefect_server import start_prefect
from vmshift.lab.process import PartProcess


def test_the_server_answers_on_loopback_with_its_database_in_the_lab_folder(prefect_server) -> None:
    folder, entry = prefect_server
    assert entry["healthy"] is True
    assert entry["api_url"].startswith("http://127.0.0.1:")
    assert (folder / "prefect" / "prefect.db").exists()


def test_the_cutover_api_refuses_a_call_without_the_servers_credentials(prefect_server) -> None:
    _, entry = prefect_server
    create_run = f"{entry['api_url']}/deployments/{uuid.uuid4()}/create_flow_run"
    assert requests.post(create_run, json={}, timeout=10).status_code == 401
    wrong = base64.b64encode(b"not-the-secret").decode()
    assert requests.post(create_run, json={}, headers={"Authorization": f"Basic {wrong}"},
                         timeout=10).status_code == 401
    token = base64.b64encode(entry["auth_string"].encode()).decode()
    answered = requests.post(create_run, json={}, headers={"Authorization": f"Basic {token}"}, timeout=10)
    assert answered.status_code == 404  # past the credentials check: that deployment does not exist


def test_the_secret_is_never_in_the_servers_command_line(prefect_server) -> None:
    folder, entry = prefect_server
    part = PartProcess("prefect", folder / "run" / "prefect.pid", folder / "logs" / "prefect.log")
    cmdline = Path(f"/proc/{part.pid()}/cmdline").read_bytes().decode()
    assert entry["auth_string"] not in cmdline


def test_starting_again_reuses_the_running_server(prefect_server) -> None:
    folder, entry = prefect_server
    part = PartProcess("prefect", folder / "run" / "prefect.pid", folder / "logs" / "prefect.log")
    pid = part.pid()
    assert start_prefect(folder, part) == entry
    assert part.pid() == pid
