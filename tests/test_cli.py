"""The `vmshift` command as a migration engineer meets it: clear text, one JSON line, no tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli.command import main
from vmshift.state.lifecycle import Actor, Step
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX, find_vm, vm_disks
from vmshift.vsphere.snapshots import find_snapshots

EXAMPLES = Path(__file__).parents[1] / "examples"


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_plan_validate_offline_accepts_the_example(capsys) -> None:
    assert main(["plan", "validate", str(EXAMPLES / "waves.csv"), "--offline", "--json"]) == 0
    result = _last_json(capsys.readouterr().out)
    assert result["ok"] is True and result["rows"] == 4 and result["errors"] == []


def test_plan_validate_names_the_bad_row_and_exits_1(tmp_path: Path, capsys) -> None:
    lines = (EXAMPLES / "waves.csv").read_text().splitlines()
    lines[2] = "=cmd|' /C calc'!A0," + lines[2].split(",", 1)[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["plan", "validate", str(bad), "--offline", "--json"]) == 1
    captured = capsys.readouterr()
    result = _last_json(captured.out)
    assert result["ok"] is False
    assert any(error["row"] == 3 for error in result["errors"])
    assert "Traceback" not in captured.out + captured.err


def test_plan_validate_reads_the_assessment_it_is_given(tmp_path: Path, capsys) -> None:
    assert main(["plan", "validate", str(EXAMPLES / "waves.csv"), "--offline", "--json",
                 "--assessment", str(EXAMPLES / "assessment.csv")]) == 0
    broken = tmp_path / "assessment.csv"
    broken.write_text("machine,vm_size,disk_types\nwin-sql-01,D4,\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["plan", "validate", str(EXAMPLES / "waves.csv"), "--offline", "--json",
                 "--assessment", str(broken)]) == 1
    errors = _last_json(capsys.readouterr().out)["errors"]
    assert any(error["column"] == "assessment.csv:vm_size" for error in errors), errors


def test_plan_validate_online_checks_the_lab_inventory(lab: dict, capsys) -> None:
    assert main(["plan", "validate", str(EXAMPLES / "waves.csv"), "--start-at", "now", "--json"]) == 0
    assert _last_json(capsys.readouterr().out)["ok"] is True


@pytest.mark.usefixtures("cache_reached_privately")  # `vmshift replicate` asks the DNS gate
def test_replicate_an_unknown_vm_is_a_clear_error(lab: dict, capsys) -> None:
    assert main(["replicate", "--vm", "no-such-vm", "--json"]) == 1
    captured = capsys.readouterr()
    assert "no VM named 'no-such-vm'" in captured.err and "Traceback" not in captured.err
    assert _last_json(captured.out)["ok"] is False


@pytest.mark.usefixtures("cache_reached_privately")  # `vmshift replicate` asks the DNS gate
def test_replicate_then_verify_through_the_cli(lab: dict, capsys) -> None:
    assert main(["replicate", "--vm", "app-linux-01", "--json"]) == 0
    report = _last_json(capsys.readouterr().out)
    assert report["vm"] == "app-linux-01" and report["cycle"] >= 1
    assert {"bytes_sent", "changed_bytes", "seconds", "disks"} <= report.keys()
    assert main(["verify", "--vm", "app-linux-01", "--json"]) == 0
    assert _last_json(capsys.readouterr().out)["equal"] is True
    assert main(["status", "--vm", "app-linux-01", "--json"]) == 0
    [row] = _last_json(capsys.readouterr().out)["vms"]
    assert row["name"] == "app-linux-01" and row["phase"] == "protected"
    assert row["recovery_points"] >= 1 and row["last_cycle"]["cycle"] == report["cycle"]
    assert row["next_cycle_due"] > row["last_cycle"]["finished_at"] and row["error"] is None


def test_inventory_json_lists_vms_with_their_disks(lab: dict, capsys) -> None:
    assert main(["inventory", "--json"]) == 0
    vms = {vm["name"]: vm for vm in _last_json(capsys.readouterr().out)["vms"]}
    sql = vms["win-sql-01"]
    assert sql["firmware"] == "efi" and sql["guest_os"].startswith("windows")
    assert [d["key"] for d in sql["disks"]] == [2000, 2001]
    assert sql["disks"][0]["datastore_path"] == "[ds-ssd-01] win-sql-01/win-sql-01.vmdk"


def test_lab_write_puts_the_file_into_the_vm_disk_as_its_guest_would(lab: dict, tmp_path: Path, capsys) -> None:
    data = b"written by `vmshift lab write`"
    source = tmp_path / "guest-bytes.bin"
    source.write_bytes(data)
    offset = 5 * 2**20 + 123

    assert main(["lab", "write", "--vm", "vsphere-lib-01", "--disk", "2001", "--offset", str(offset),
                 "--file", str(source), "--json"]) == 0

    result = _last_json(capsys.readouterr().out)
    assert {key: result[key] for key in ("vm", "disk", "offset", "length")} == {
        "vm": "vsphere-lib-01", "disk": 2001, "offset": offset, "length": len(data)}
    with connect(VCenterConfig.from_env()) as session:
        disk = next(d for d in vm_disks(find_vm(session, "vsphere-lib-01")) if d.key == 2001)
        assert open_disk(session, disk.datastore_path, disk.capacity_bytes).read(offset, len(data)) == data


def test_lab_churn_writes_the_asked_share_of_every_disk(lab: dict, capsys) -> None:
    assert main(["lab", "churn", "--vm", "vsphere-lib-01", "--percent", "1", "--seed", "5", "--json"]) == 0

    result = _last_json(capsys.readouterr().out)
    pages_per_disk = [round(40 * 2**20 * 0.01 / 4096), round(8 * 2**20 * 0.01 / 4096)]  # 4 KiB guest writes
    assert (result["vm"], result["bytes_written"]) == ("vsphere-lib-01", sum(pages_per_disk) * 4096)


@pytest.mark.usefixtures("cache_reached_privately")  # `vmshift replicate` asks the DNS gate
def test_replicate_of_a_vm_migrated_and_completed_is_refused_saying_when_by_which_run_and_what_to_do(
    lab: dict, capsys
) -> None:
    vm = "life-cli-01"
    assert main(["replicate", "--vm", vm]) == 0
    store = StateStore.for_account(os.environ["VMSHIFT_CACHE_ACCOUNT"])
    # Cut over and completed, as the cutover and complete-migration flows record it.
    cutover = Actor("cutover", run="0b5e-cut", by="ana@appliance-01")
    for step, actor in ((Step.CUTOVER, cutover), (Step.CUTOVER_DONE, cutover),
                        (Step.COMPLETE, Actor("complete-migration", run="0b5e-done", by="ana@appliance-01"))):
        store.advance(vm, step, actor)
    completed = store.load(vm)
    at = f"{completed.state.history[-1].at:%Y-%m-%d %H:%M:%S}"
    capsys.readouterr()

    assert main(["replicate", "--vm", vm]) == 1

    assert capsys.readouterr().err == (
        f"error: replicate of {vm} refused: migrated and completed at {at} UTC by run 0b5e-done "
        "(complete-migration), by ana@appliance-01; replication is finished; to replicate it again, roll back "
        "before completion, or add a new plan row under another name\n")
    assert store.load(vm).etag == completed.etag  # its document, its phase and its schedule as they were
    assert find_snapshots(find_vm(connect(VCenterConfig.from_env()), vm), OWN_SNAPSHOT_PREFIX) == []

    assert main(["status", "--vm", vm]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1].split()[:2] == [vm, "completed"] and shown[1].split()[-1] == "-"  # no next cycle due
    history = [line.split() for line in shown[4:]]
    assert [(line[1], line[2], line[4]) for line in history] == [
        ("replicate", "discovered", "replicating"), ("cycle-done", "replicating", "protected"),
        ("cutover", "protected", "cutting-over"), ("cutover-done", "cutting-over", "migrated"),
        ("complete", "migrated", "completed")]
    assert history[-1][5:] == ["complete-migration", "0b5e-done", "ana@appliance-01"]
