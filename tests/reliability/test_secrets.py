"""A wave through replication, a delta, a test migration and a cutover leaves no secret anywhere a team looks:
Prefect's logs, flow-run parameters and artifacts, the state documents, the CLI's output, the lab's logs."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from wave_runs import CACHE, outcomes, run_step

from vmshift.lab import launcher
from vmshift.lab.guest import churn_guest
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import DEFAULT_CONTAINER

pytestmark = pytest.mark.lab

VM = "rel-secret-01"
PAGE = 200
SAS_SIGNATURE = re.compile(r"sig(=|%3D)(?!REDACTED)", re.IGNORECASE)


def secrets_of(lab: dict, prefect: dict) -> dict[str, str]:
    """Every secret the run used, by what it is (its value is never printed)."""
    found = {"vCenter password": lab["vcenter"]["password"], "ARM client secret": lab["arm"]["client_secret"],
             "Prefect auth string": prefect["auth_string"],
             "Prefect auth string (as sent)": base64.b64encode(prefect["auth_string"].encode()).decode()}
    found |= {f"storage key of {name}": key for name, key in lab["azurite"]["accounts"].items()}
    return found


def prefect_records(prefect: dict) -> dict[str, str]:
    """Logs, flow runs (parameters, state messages), task runs and artifacts, as the REST API returns them."""
    api, auth = prefect["api_url"], prefect["auth_string"].split(":", 1)
    texts = {}
    for kind in ("logs", "flow_runs", "task_runs", "artifacts"):
        pages, offset = [], 0
        while True:
            answer = requests.post(f"{api}/{kind}/filter", json={"limit": PAGE, "offset": offset},
                                   auth=tuple(auth), timeout=30)
            answer.raise_for_status()
            pages.append(answer.text)
            if len(answer.json()) < PAGE:
                break
            offset += PAGE
        texts[f"Prefect {kind}"] = "\n".join(pages)
    return texts


def state_documents(*accounts: str) -> dict[str, str]:
    """Every state document of the accounts (the reliability lab's cache account if none is named)."""
    texts = {}
    for account in accounts or (CACHE,):
        container = blob_service_client(account).get_container_client(DEFAULT_CONTAINER)
        if container.exists():
            texts |= {f"state document {account}/{blob.name}":
                      container.download_blob(blob.name).readall().decode(errors="replace")
                      for blob in container.list_blobs()}
    return texts


def cli_outputs(env: dict[str, str]) -> dict[str, str]:
    outputs = {}
    for args in (["status", "--vm", VM], ["replicate", "--vm", VM, "--cache-account", CACHE], ["lab", "status"],
                 ["verify", "--vm", VM, "--cache-account", CACHE]):
        done = subprocess.run([sys.executable, "-m", "cli.command", *args, "--json"], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[f"vmshift {' '.join(args)}"] = done.stdout + done.stderr
    return outputs


def log_files(*folders: Path) -> dict[str, str]:
    return {str(path): path.read_text(errors="replace") for folder in folders for path in folder.rglob("*.log")}


def secret_hits(places: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """What secret was found where (never the secret itself): each secret's value, and any SAS signature, as
    written (sig=) or URL-encoded (sig%3D)."""
    hits = [f"{what} in {place}" for place, text in places.items() for what, secret in secrets.items()
            if secret in text]
    return hits + [f"a SAS signature ({match.group()}) in {place}" for place, text in places.items()
                   for match in [SAS_SIGNATURE.search(text)] if match]


def test_no_secret_is_left_in_logs_parameters_artifacts_state_or_cli_output(
    lab: dict, rel_prefect: tuple[Path, dict], step_env: dict[str, str], tmp_path: Path
) -> None:
    prefect_folder, prefect = rel_prefect
    assert outcomes(run_step("replicate", [VM], step_env, tmp_path / "replicate.log")) == {VM: "protected"}
    churn_guest(lab, VM, 5.0, seed=7)
    assert outcomes(run_step("delta", [VM], step_env, tmp_path / "delta.log")) == {VM: "protected"}
    assert outcomes(run_step("test", [VM], step_env, tmp_path / "test.log")) == {VM: "test-migrated"}
    assert outcomes(run_step("cleanup", [VM], step_env, tmp_path / "cleanup.log")) == {VM: "cleaned"}
    env = {**os.environ, **step_env}
    cli = cli_outputs(env)
    assert outcomes(run_step("cutover", [VM], step_env, tmp_path / "cutover.log")) == {VM: "migrated"}

    places = {**prefect_records(prefect), **state_documents(), **cli,
              **log_files(launcher.lab_dir() / "logs", prefect_folder / "logs", tmp_path)}
    assert any(VM in text for text in places.values()), "the scan found none of the run's records"
    assert secret_hits(places, secrets_of(lab, prefect)) == []
