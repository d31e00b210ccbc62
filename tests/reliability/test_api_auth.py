"""The cutover API (a flow run of the `cutover` deployment) is refused without the Prefect server's auth string,
and accepted with it: no run is created by a caller who does not have it."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import requests


def _setup_post(url: str, body: dict, headers: dict[str, str]) -> requests.Response:
    """A setup call with the right credentials; a busy server answers 503 (SQLite-backed ones often), and
    Prefect's own client retries that, so the test does too."""
    for _ in range(30):
        response = requests.post(url, json=body, headers=headers, timeout=30)
        if response.status_code not in (429, 503):
            break
        time.sleep(1)
    response.raise_for_status()
    return response


def _basic(secret: str) -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(secret.encode()).decode()}"}


def test_a_cutover_run_is_created_only_with_the_servers_credentials(rel_prefect: tuple[Path, dict]) -> None:
    _, prefect = rel_prefect
    api, good = prefect["api_url"], _basic(prefect["auth_string"])
    flow = _setup_post(f"{api}/flows/", {"name": "cutover"}, good)
    deployment = _setup_post(f"{api}/deployments/", {"name": "cutover", "flow_id": flow.json()["id"]}, good)
    create_run = f"{api}/deployments/{deployment.json()['id']}/create_flow_run"
    body = {"parameters": {"wave": "wave-1"}}

    for headers in ({}, _basic("admin:not-the-secret"), {"Authorization": "Bearer " + prefect["auth_string"]}):
        assert requests.post(create_run, json=body, headers=headers, timeout=30).status_code == 401
        assert requests.get(f"{api}/deployments/name/cutover/cutover", headers=headers, timeout=30).status_code == 401
    runs = _setup_post(f"{api}/flow_runs/filter", {"deployments": {"id": {"any_": [deployment.json()["id"]]}}}, good)
    assert runs.json() == []

    created = _setup_post(create_run, body, good)
    assert created.status_code == 201
    assert created.json()["parameters"] == {"wave": "wave-1"}
