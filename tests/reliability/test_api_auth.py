"""The cutover API (a flow run of the `cutover` deployment) is refused without the Prefect server's auth string,
and accepted with it: no run is created by a caller who does not have it."""

from __future__ import annotations

import base64
from pathlib import Path

import requests


def _basic(secret: str) -> dict[str, str]:
    return {"Authorization": f"Basic {base64.b64encode(secret.encode()).decode()}"}


def test_a_cutover_run_is_created_only_with_the_servers_credentials(rel_prefect: tuple[Path, dict]) -> None:
    _, prefect = rel_prefect
    api, good = prefect["api_url"], _basic(prefect["auth_string"])
    flow = requests.post(f"{api}/flows/", json={"name": "cutover"}, headers=good, timeout=30)
    flow.raise_for_status()
    deployment = requests.post(f"{api}/deployments/", json={"name": "cutover", "flow_id": flow.json()["id"]},
                               headers=good, timeout=30)
    deployment.raise_for_status()
    create_run = f"{api}/deployments/{deployment.json()['id']}/create_flow_run"
    body = {"parameters": {"wave": "wave-1"}}

    for headers in ({}, _basic("admin:not-the-secret"), {"Authorization": "Bearer " + prefect["auth_string"]}):
        assert requests.post(create_run, json=body, headers=headers, timeout=30).status_code == 401
        assert requests.get(f"{api}/deployments/name/cutover/cutover", headers=headers, timeout=30).status_code == 401
    runs = requests.post(f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment.json()["id"]]}}},
                         headers=good, timeout=30)
    assert runs.json() == []

    created = requests.post(create_run, json=body, headers=good, timeout=30)
    assert created.status_code == 201
    assert created.json()["parameters"] == {"wave": "wave-1"}
