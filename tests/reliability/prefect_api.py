"""The reliability tests' calls to the Prefect server's REST API, as a client holding its auth string makes them."""

from __future__ import annotations

import base64
import time

import requests


def basic(secret: str) -> dict[str, str]:
    """The header a Prefect client sends for PREFECT_API_AUTH_STRING."""
    return {"Authorization": f"Basic {base64.b64encode(secret.encode()).decode()}"}


def api_call(method: str, url: str, headers: dict[str, str], body: dict | None = None) -> requests.Response:
    """A call with the right credentials; a busy server answers 503 (or 429), and Prefect's own client retries
    that, so the tests do too. Other answers are returned as they are."""
    for _ in range(30):
        response = requests.request(method, url, json=body, headers=headers, timeout=30)
        if response.status_code not in (429, 503):
            break
        time.sleep(1)
    return response


def flow_runs(prefect: dict, deployment_id: str | None = None) -> list[dict]:
    """Every flow run on the server (of one deployment, if given)."""
    body = {"deployments": {"id": {"any_": [deployment_id]}}} if deployment_id else {}
    response = api_call("POST", f"{prefect['api_url']}/flow_runs/filter", basic(prefect["auth_string"]), body)
    response.raise_for_status()
    return response.json()
