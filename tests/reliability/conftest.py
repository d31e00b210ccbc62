"""A Prefect server of its own (behind its auth string) for the reliability tests' flow runs, vmshift's
deployments on it, and the environment a wave step's child process gets: the lab's (lab.env) plus the server's
client settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab import launcher
from vmshift.lab.prefect_server import client_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The flows behind the API calls the tests make, by deployment name as prefect.yaml names them.
DEPLOYED = {"wave-replicate": "flows/migrate_wave.py:migrate_wave", "cutover": "flows/cutover.py:cutover",
            "test-migrate": "flows/test_migrate.py:test_migrate"}
# As `vmshift deploy` makes them from prefect.yaml (`pull: null`): the flow's parameter schema, enforced and
# sealed against parameters the flow does not take, and code run from the project folder.
_DEPLOY = """
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.flows import load_flow_from_entrypoint
from deployments.deploy import seal

async def deploy(deployments, project):
    ids = {}
    async with get_client() as client:
        for name, entrypoint in deployments.items():
            flow = load_flow_from_entrypoint(entrypoint)
            deployment_id = await (await flow.ato_deployment(name=name)).aapply()
            pull = [{"prefect.deployments.steps.set_working_directory": {"directory": project}}]
            await client.update_deployment(deployment_id, DeploymentUpdate(pull_steps=pull))
            await seal(client, await client.read_deployment(deployment_id))
            ids[f"{flow.name}/{name}"] = str(deployment_id)
    return ids

print(json.dumps(asyncio.run(deploy(json.loads(sys.argv[1]), sys.argv[2]))))
"""


@pytest.fixture(scope="session")
def rel_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """(folder, lab.json entry) of a lab Prefect server started for the reliability tests alone: they count
    the runs of deployments that the flow tests also create, so sharing the flow tests' server breaks them."""
    folder = tmp_path_factory.mktemp("rel-prefect")
    with launcher.running_prefect_server(folder) as entry:
        yield folder, entry


@pytest.fixture
def step_env(lab: dict, rel_prefect: tuple[Path, dict]) -> dict[str, str]:
    """What a wave step's process needs besides the lab's environment (already set for the session)."""
    return client_environment(rel_prefect[1]) | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@pytest.fixture(scope="session")
def deployments(lab: dict, rel_prefect: tuple[Path, dict]) -> dict[str, str]:
    """"flow/deployment" → id of the DEPLOYED flows on the reliability server; no work pool: nothing runs
    them unless a test executes a run itself (`prefect flow-run execute`)."""
    env = {**os.environ, **client_environment(rel_prefect[1]), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", _DEPLOY, json.dumps(DEPLOYED), str(PROJECT_ROOT)], env=env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])

