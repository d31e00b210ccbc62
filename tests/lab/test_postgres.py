"""The lab Prefect server's PostgreSQL: a cluster in the lab folder that a restart of the lab keeps."""

from __future__ import annotations

import base64
from pathlib import Path

import requests

from vmshift.lab import launcher


def test_a_restarted_prefect_server_still_knows_what_it_was_told(tmp_path: Path) -> None:
    try:
        entry = launcher.start_prefect_server(tmp_path)["prefect"]
        headers = {"Authorization": "Basic " + base64.b64encode(entry["auth_string"].encode()).decode()}
        created = requests.post(f"{entry['api_url']}/flows/", json={"name": "wave-kept"}, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        launcher.stop_prefect_server(tmp_path)

        entry = launcher.start_prefect_server(tmp_path)["prefect"]
        found = requests.get(f"{entry['api_url']}/flows/name/wave-kept", headers=headers, timeout=10)
        assert found.status_code == 200
        assert found.json()["id"] == created.json()["id"]
    finally:
        launcher.stop_prefect_server(tmp_path)
