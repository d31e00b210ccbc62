"""A lab of several vCenters, each with its own inventory and credentials, and the generated estate at scale."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab import launcher
from vmshift.lab.estate import estate_spec, main
from vmshift.lab.spec import LabSpecInvalid, load_spec
from vmshift.plan.validation import validate_plan
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.errors import VCenterLoginFailed
from vmshift.vsphere.inventory import inventory

SHARED = "shared-app-01"  # a VM name both vCenters hold, as estates that grew by acquisition do


def _two_vcenter_spec(folder: Path) -> Path:
    spec = estate_spec(6)
    del spec["azure"]  # vCenters only: no ARM to start
    for vcenter in spec["vcenters"]:
        vcenter["vms"].append({**vcenter["vms"][0], "name": SHARED})
    path = folder / "two-vcenters.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="module")
def two_vcenters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("vcenters")
    try:
        lab = launcher.up(folder / "lab", _two_vcenter_spec(folder), cache_dir=launcher.PROJECT_ROOT / ".cache")
        assert lab["healthy"], launcher.masked(lab)
        yield lab
    finally:
        launcher.down(folder / "lab")


def _config(lab: dict, name: str, password: str | None = None) -> VCenterConfig:
    vcenter = lab["vcenters"][name]
    return VCenterConfig(url=vcenter["url"], user=vcenter["user"], password=password or vcenter["password"],
                         datacenter=vcenter["datacenter"], ca_file=lab["ca_file"], name=name)


def test_each_vcenter_serves_its_own_inventory_under_its_name(two_vcenters: dict) -> None:
    assert list(two_vcenters["vcenters"]) == ["vcenter-a.lab.local", "vcenter-b.lab.local"]
    assert two_vcenters["vcenter"]["url"] == two_vcenters["vcenters"]["vcenter-a.lab.local"]["url"]
    seen = {}
    for name in two_vcenters["vcenters"]:
        with connect(_config(two_vcenters, name)) as session:
            table = inventory(session)
        assert set(table["vcenter"]) == {name}
        seen[name] = set(table["vm"])
    assert seen["vcenter-a.lab.local"] == {"est-0001", "est-0003", "est-0005", SHARED}
    assert seen["vcenter-b.lab.local"] == {"est-0002", "est-0004", "est-0006", SHARED}


def test_each_vcenter_has_its_own_credentials(two_vcenters: dict) -> None:
    a, b = two_vcenters["vcenters"].values()
    assert a["password"] != b["password"]
    with pytest.raises(VCenterLoginFailed, match="refused the login"):
        connect(_config(two_vcenters, "vcenter-b.lab.local", password=a["password"]))


def test_the_environment_names_every_vcenter_and_reaches_each(two_vcenters: dict, monkeypatch) -> None:
    for name, value in launcher.lab_env(two_vcenters).items():
        monkeypatch.setenv(name, value)
    configs = VCenterConfig.all_from_env()
    assert [config.name for config in configs] == ["vcenter-a.lab.local", "vcenter-b.lab.local"]
    for config in configs:
        with connect(config) as session:
            assert session.datacenter.name == two_vcenters["vcenters"][config.name]["datacenter"]
    # The single-vCenter variables still name the first, for everything that knows one vCenter.
    assert VCenterConfig.from_env().url == two_vcenters["vcenters"]["vcenter-a.lab.local"]["url"]


def test_status_names_every_vcenter_healthy_and_masks_their_passwords(two_vcenters: dict) -> None:
    status = launcher.status(_folder(two_vcenters))
    assert status["healthy"] and all(vcenter["healthy"] for vcenter in status["vcenters"].values())
    shown = json.dumps(launcher.masked(status))
    assert all(vcenter["password"] not in shown for vcenter in two_vcenters["vcenters"].values())


def test_the_estate_spreads_its_vms_over_two_vcenters_eight_hosts_and_six_datastores() -> None:
    spec = load_spec(Path("estate:500"))
    vcenters = spec.all_vcenters
    vms = [vm for vcenter in vcenters for vm in vcenter.vms]
    assert len(vcenters) == 2 and len(vms) == 500 and len({vm.name for vm in vms}) == 500
    hosts = {host for vcenter in vcenters for cluster in vcenter.clusters for host in cluster.hosts}
    datastores = {ds.name for vcenter in vcenters for ds in vcenter.datastores}
    assert len(hosts) == 8 and len(datastores) == 6
    # every host and datastore carries its share, so that a wave meets each of their limits
    assert {vm.host for vm in vms} == hosts and {vm.datastore for vm in vms} == datastores
    assert max(disk.capacity_mib for vm in vms for disk in vm.disks) <= 64
    assert spec.azure is not None


@pytest.mark.parametrize("given, message", [
    ("estate:many", "estate:<number of VMs>"), ("estate:0", "1 to 2000 VMs"),
])
def test_an_estate_of_no_sensible_size_is_refused(given: str, message: str) -> None:
    with pytest.raises(LabSpecInvalid, match=message):
        load_spec(Path(given))


def test_a_spec_with_both_vcenter_and_vcenters_or_two_of_one_name_is_refused(tmp_path: Path) -> None:
    spec = estate_spec(4)
    both = tmp_path / "both.json"
    both.write_text(json.dumps({**spec, "vcenter": spec["vcenters"][0]}))
    with pytest.raises(LabSpecInvalid, match="`vcenter`, or several as `vcenters`, not both"):
        load_spec(both)
    spec["vcenters"][1]["name"] = spec["vcenters"][0]["name"]
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(spec))
    with pytest.raises(LabSpecInvalid, match=r"vcenters\[1\] \(vcenter-a.lab.local\).name: duplicate vCenter name"):
        load_spec(twice)


def test_lab_down_stops_every_vcenter(two_vcenters: dict) -> None:  # last: the module's lab ends here
    folder = _folder(two_vcenters)
    assert {"vcenter", "vcenter-2"} <= set(launcher.down(folder))
    assert launcher.lab_part(folder, "vcenter-2").pid() is None


def _folder(lab: dict) -> Path:
    return Path(lab["ca_file"]).parents[1]


def test_the_example_plan_is_the_estates_one_and_starts_nothing_wrong(capsys) -> None:
    shipped = Path(__file__).parents[2] / "examples" / "estate-500-waves.csv"
    assert main(["500", "--plan"]) == 0
    assert capsys.readouterr().out == shipped.read_text()
    plan = validate_plan(shipped, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)).raise_for_errors()
    assert len(plan.waves) == 1 and len(plan.waves[0].vms) == 500
    assert {vm.vcenter for vm in plan.waves[0].vms} == {"vcenter-a.lab.local", "vcenter-b.lab.local"}
