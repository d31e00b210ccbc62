"""`vmshift deploy`: the deployments of prefect.yaml, created by `prefect deploy --all` and then sealed.

`prefect deploy` stores the parameter schema Prefect generates from each flow's signature, and that schema
lets any other key through: `create_flow_run` with `{"wave": "wave-1", "colour": "red"}` is accepted (201) and
the run crashes in the worker with SignatureMismatchError, which only the worker's log shows. A sealed
schema (`additionalProperties: false`) makes the server's schema enforcement refuse that call with 409, naming
the key, and create no run. `prefect deploy` writes the schema anew every time and has no step after the
deployment is saved, so sealing is part of the one command that deploys.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import yaml
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.responses import DeploymentResponse

PREFECT = str(Path(sys.executable).parent / "prefect")


class DeployFailed(RuntimeError):
    """`prefect deploy` failed, or left a deployment of prefect.yaml missing; the message says which and why."""


def deploy_project(prefect_file: Path) -> list[str]:
    """Run `prefect deploy --all` on the file's project, then seal each of its deployments: their names."""
    if not prefect_file.is_file():
        raise DeployFailed(f"no {prefect_file}: run `vmshift deploy` in the project folder, or name the file "
                           "with --prefect-file")
    project = prefect_file.resolve().parent
    done = subprocess.run([PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file.resolve())],
                          cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        raise DeployFailed(f"prefect deploy --all of {prefect_file} failed (exit {done.returncode}); its output "
                           f"ends:\n{(done.stdout + done.stderr)[-2000:]}")
    return asyncio.run(seal_project(prefect_file))


async def seal_project(prefect_file: Path) -> list[str]:
    """Seal every deployment prefect.yaml declares, found on the server by its name and entrypoint."""
    declared = {entry["name"]: entry["entrypoint"] for entry in yaml.safe_load(prefect_file.read_text())["deployments"]}
    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(declared))))
        ours = {d.name: d for d in found if d.entrypoint == declared[d.name]}
        missing = sorted(set(declared) - set(ours))
        if missing:
            raise DeployFailed(f"deployments of {prefect_file} not on the Prefect server at {client.api_url}: "
                               f"{', '.join(missing)}; run `vmshift deploy` in the project folder")
        for deployment in ours.values():
            await seal(client, deployment)
    return sorted(ours)


async def seal(client: PrefectClient, deployment: DeploymentResponse) -> None:
    """Make the server refuse runs of the deployment with a parameter its flow does not take."""
    await client.update_deployment(deployment.id, DeploymentUpdate(
        parameter_openapi_schema={**(deployment.parameter_openapi_schema or {}), "additionalProperties": False},
        # The seal is only checked when the schema is enforced (prefect.yaml could turn that off).
        enforce_parameter_schema=True))
