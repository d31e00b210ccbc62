"""`vmshift lab up/status/down` as a user and the tests rely on them."""

from __future__ import annotations

import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cli.command import main
from vmshift.lab import launcher, process
from vmshift.lab.process import PartFailed, PartProcess


def test_lab_status_json_names_every_part_healthy_and_masks_credentials(lab: dict, capsys) -> None:
    assert main(["lab", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert status["healthy"] is True
    assert status["vcenter"]["url"].startswith("https://127.0.0.1:")
    assert status["azurite"]["blob_endpoint"].startswith("https://127.0.0.1:")
    assert status["arm"]["endpoint"].startswith("https://127.0.0.1:")
    assert status["arm"]["authority"].startswith("https://127.0.0.1:")
    assert status["dns"]["port"] > 0
    assert all(status[p]["healthy"] for p in ("vcenter", "azurite", "arm", "dns"))
    printed = json.dumps(status)
    assert lab["vcenter"]["password"] not in printed
    assert lab["arm"]["client_secret"] not in printed
    assert not any(key in printed for key in lab["azurite"]["accounts"].values())


def test_lab_up_again_is_a_no_op(lab: dict, lab_dir: Path) -> None:
    pids = {name: launcher.lab_part(lab_dir, name).pid() for name in launcher.PARTS}
    again = launcher.up(lab_dir, Path(__file__).parents[1] / "lab-spec.json")
    assert again["vcenter"]["url"] == lab["vcenter"]["url"]
    assert again["arm"]["endpoint"] == lab["arm"]["endpoint"]
    assert {name: launcher.lab_part(lab_dir, name).pid() for name in launcher.PARTS} == pids


def test_lab_env_carries_what_the_product_reads(lab: dict) -> None:
    env = launcher.lab_env(lab)
    assert env["VMSHIFT_VCENTER_URL"] == lab["vcenter"]["url"]
    assert env["VMSHIFT_CA_FILE"] == lab["ca_file"]
    assert env["VMSHIFT_STORAGE_KEY_VMSHIFTCACHE01"] == lab["azurite"]["accounts"]["vmshiftcache01"]
    assert env["VMSHIFT_DNS_SERVERS"] == f"{lab['dns']['host']}:{lab['dns']['port']}"


def test_stale_pid_file_is_ignored_and_removed(tmp_path: Path) -> None:
    part = PartProcess("vcenter", tmp_path / "vcenter.pid", tmp_path / "vcenter.log")
    part.pid_file.write_text(json.dumps({"pid": 2**22 - 3, "start_time": 1}))
    assert part.pid() is None
    assert not part.pid_file.exists()


def test_pid_reused_by_another_program_is_not_ours(tmp_path: Path) -> None:
    part = PartProcess("vcenter", tmp_path / "vcenter.pid", tmp_path / "vcenter.log")
    part.pid_file.write_text(json.dumps({"pid": 1, "start_time": 1}))
    assert part.pid() is None


def test_a_part_that_dies_is_named_with_its_last_log_lines(tmp_path: Path) -> None:
    part = PartProcess("azurite", tmp_path / "run" / "azurite.pid", tmp_path / "logs" / "azurite.log")
    process.start(part, [sys.executable, "-c", "print('port 10000 already in use'); raise SystemExit(3)"], {})
    with pytest.raises(PartFailed) as failure:
        process.wait_ready_file(part, tmp_path / "run" / "azurite.ready", timeout_s=20)
    assert "lab part azurite exited while starting" in str(failure.value)
    assert "port 10000 already in use" in str(failure.value)


def test_status_without_a_lab_says_how_to_start_one(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VMSHIFT_LAB_DIR", str(tmp_path))
    assert main(["lab", "status"]) == 1
    assert "run `vmshift lab up`" in capsys.readouterr().err


def test_azurite_log_hides_a_sas_signature_as_azure_storage_logs_do(lab: dict, lab_dir: Path) -> None:
    url = lab["azurite"]["blob_endpoint"].format(account="vmshiftcache01") + "/nothere/blob?sp=r&sig=S3cr3tSig%3D"
    context = ssl.create_default_context(cafile=lab["ca_file"])
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url, context=context, timeout=10)
    log_file = lab_dir / "logs" / "azurite.log"
    # Azurite logs a request once its answer is sent: the line may follow the answer by a moment.
    deadline = time.monotonic() + 10
    while "/nothere/blob" not in (log := log_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/nothere/blob?sp=r&sig=REDACTED" in log
    assert "S3cr3tSig" not in log
