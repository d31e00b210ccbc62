"""The lab's Prefect server: starts on loopback with its PostgreSQL cluster in the lab folder and refuses callers
without its secret."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import asyncpg
import pytest
import requests

from vmshift.lab import launcher


def test_the_server_answers_on_loopback_with_its_database_in_the_lab_folder(prefect_server) -> None:
    folder, entry = prefect_server
    assert entry["healthy"] is True
    assert entry["api_url"].startswith("http://127.0.0.1:")
    assert (folder / "postgres" / "data" / "PG_VERSION").exists()
    assert not (folder / "prefect" / "prefect.db").exists()


def test_its_postgresql_holds_prefects_tables_and_refuses_a_wrong_password(prefect_server) -> None:
    folder, _ = prefect_server
    entry = {"host": "127.0.0.1", "port": int((folder / "postgres" / "port").read_text()), "user": "prefect"}

    async def tables(password: str) -> set[str]:
        connection = await asyncpg.connect(**entry, password=password, database="prefect")
        try:
            return {row["tablename"] for row in await connection.fetch("SELECT tablename FROM pg_tables")}
        finally:
            await connection.close()

    assert {"flow_run", "task_run", "deployment"} <= asyncio.run(tables((folder / "postgres" / "password").read_text()))
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(tables("not-the-password"))


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


def test_the_ui_served_beside_the_api_is_told_that_api_and_asks_for_the_secret(prefect_server) -> None:
    """The browser asks /ui-settings where the API is: a server on a free port that answered Prefect's default
    (127.0.0.1:4200) left every page of the UI unable to reach it (tests/clients/test_prefect_ui.py, in a browser)."""
    _, entry = prefect_server
    settings = requests.get(f"{entry['ui_url']}/ui-settings", timeout=10).json()
    assert settings["api_url"] == entry["api_url"]
    assert settings["auth"] == "BASIC"


def test_the_secret_is_never_in_the_servers_command_line(prefect_server) -> None:
    folder, entry = prefect_server
    part = launcher.lab_part(folder, "prefect")
    cmdline = Path(f"/proc/{part.pid()}/cmdline").read_bytes().decode()
    assert entry["auth_string"] not in cmdline


def test_starting_again_reuses_the_running_server(prefect_server) -> None:
    folder, entry = prefect_server
    parts = [launcher.lab_part(folder, name) for name in ("postgres", "prefect")]
    pids = [part.pid() for part in parts]
    assert launcher.start_prefect_server(folder)["prefect"] == entry
    assert [part.pid() for part in parts] == pids
