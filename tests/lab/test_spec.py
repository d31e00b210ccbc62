"""A broken lab spec is refused with every problem named, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.command import main
from vmshift.lab.spec import DEFAULT_SPEC, LabSpecInvalid, load_spec


def _write_spec(tmp_path: Path, change) -> Path:
    spec = json.loads(DEFAULT_SPEC.read_text())
    change(spec)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_default_spec_is_valid_and_has_the_estate_the_tests_need() -> None:
    spec = load_spec()
    guests = {vm.guest_id for vm in spec.vcenter.vms}
    assert any(g.startswith("windows") for g in guests) and any(not g.startswith("windows") for g in guests)
    assert {vm.firmware for vm in spec.vcenter.vms} == {"bios", "efi"}
    assert any(len(vm.disks) == 2 for vm in spec.vcenter.vms)


def test_unknown_field_is_named_with_its_vm(tmp_path: Path) -> None:
    path = _write_spec(tmp_path, lambda s: s["vcenter"]["vms"][1].update(cpu_count=4))
    with pytest.raises(LabSpecInvalid) as error:
        load_spec(path)
    assert "vcenter.vms[1] (win-sql-01).cpu_count: unknown field" in str(error.value)


def test_duplicate_vm_name_is_refused(tmp_path: Path) -> None:
    copied_at = len(load_spec().vcenter.vms)  # the copy of the first VM goes last
    path = _write_spec(tmp_path, lambda s: s["vcenter"]["vms"].append(dict(s["vcenter"]["vms"][0])))
    with pytest.raises(LabSpecInvalid, match=rf"vcenter\.vms\[{copied_at}\] \(app-linux-01\)\.name: duplicate VM name"):
        load_spec(path)


def test_disk_of_size_zero_is_refused_naming_vm_and_disk(tmp_path: Path) -> None:
    path = _write_spec(tmp_path, lambda s: s["vcenter"]["vms"][1]["disks"][1].update(capacity_mib=0))
    with pytest.raises(LabSpecInvalid) as error:
        load_spec(path)
    assert "vcenter.vms[1] (win-sql-01).disks[1].capacity_mib: Input should be greater than 0" in str(error.value)


def test_unknown_host_and_datastore_are_named(tmp_path: Path) -> None:
    def change(spec: dict) -> None:
        spec["vcenter"]["vms"][0].update(host="esx-99", datastore="ds-missing")

    with pytest.raises(LabSpecInvalid) as error:
        load_spec(_write_spec(tmp_path, change))
    assert "(app-linux-01).host: unknown host 'esx-99'" in str(error.value)
    assert "(app-linux-01).datastore: unknown datastore 'ds-missing'" in str(error.value)


def test_lab_up_with_a_broken_spec_starts_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VMSHIFT_LAB_DIR", str(tmp_path / "lab"))
    path = _write_spec(tmp_path, lambda s: s["vcenter"]["vms"][0]["disks"][0].update(capacity_mib=0))
    assert main(["lab", "up", "--spec", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert "capacity_mib" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out.splitlines()[-1])["ok"] is False
    assert not (tmp_path / "lab").exists()


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(b"\x00\xff binary")
    with pytest.raises(LabSpecInvalid, match="not valid UTF-8 JSON"):
        load_spec(path)
