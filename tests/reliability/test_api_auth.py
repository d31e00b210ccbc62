"""The cutover API (a flow run of the `cutover` deployment) is refused without the Prefect server's auth string,
and accepted with it: no run is created by a caller who does not have it."""

from __future__ import annotations

from pathlib import Path

import requests
from prefect_api import api_call, basic, flow_runs


def test_a_cutover_run_is_created_only_with_the_servers_credentials(rel_prefect: tuple[Path, dict],
                                                                    deployments: dict[str, str]) -> None:
    _, prefect = rel_prefect
    api, good, deployment = prefect["api_url"], basic(prefect["auth_string"]), deployments["cutover/cutover"]
    create_run = f"{api}/deployments/{deployment}/create_flow_run"
    body = {"parameters": {"wave": "wave-1"}}
    before = {run["id"] for run in flow_runs(prefect, deployment)}

    for headers in ({}, basic("admin:not-the-secret"), {"Authorization": "Bearer " + prefect["auth_string"]}):
        assert requests.post(create_run, json=body, headers=headers, timeout=30).status_code == 401
        assert requests.get(f"{api}/deployments/name/cutover/cutover", headers=headers, timeout=30).status_code == 401
    assert {run["id"] for run in flow_runs(prefect, deployment)} == before

    created = api_call("POST", create_run, good, body)
    assert created.status_code == 201, created.text
    assert created.json()["parameters"] == {"wave": "wave-1"}
    assert {run["id"] for run in flow_runs(prefect, deployment)} - before == {created.json()["id"]}
