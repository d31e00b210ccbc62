"""Inventory as a migration engineer lists it before planning waves."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest

from vmshift.vsphere.cbt import enable_cbt
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.errors import VCenterConfigError, VCenterLoginFailed, VCenterUnreachable, VmNotFound
from vmshift.vsphere.facts import facts_from_inventory
from vmshift.vsphere.inventory import find_vm, inventory, vm_disks

TEST_SPEC = Path(__file__).parents[1] / "lab-spec.json"


def test_inventory_lists_every_vm_disk_as_the_spec_declares(session):
    spec = json.loads(TEST_SPEC.read_text())["vcenter"]
    frame = inventory(session)

    assert sorted(frame["vm"].unique()) == sorted(vm["name"] for vm in spec["vms"])
    for vm in spec["vms"]:
        rows = frame[frame["vm"] == vm["name"]].sort_values("disk_key")
        assert rows["guest_os"].tolist() == [vm["guest_id"]] * len(vm["disks"])
        assert set(rows["firmware"]) == {vm["firmware"]}
        assert set(rows["cpus"]) == {vm["cpus"]} and set(rows["memory_mib"]) == {vm["memory_mib"]}
        assert rows["moref"].str.startswith("vm-").all() and rows["instance_uuid"].str.len().eq(36).all()


def test_inventory_shows_power_state_and_capacities(session):
    rows = inventory(session).query("vm == 'vsphere-lib-01'")

    assert rows["power_state"].tolist() == ["poweredOn", "poweredOn"]
    assert rows["capacity_bytes"].tolist() == [40 << 20, 8 << 20]
    assert rows["datastore_path"].tolist() == ["[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk",
                                               "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01_1.vmdk"]


def test_the_cbt_column_says_per_disk_whether_tracking_runs(session, reconfigure_cbt):
    vm = find_vm(session, "vsphere-lib-01")

    def cbt_column() -> list[bool]:
        return inventory(session).query("vm == 'vsphere-lib-01'").sort_values("disk_key")["cbt"].tolist()

    reconfigure_cbt(vm, False)
    off = cbt_column()
    reconfigure_cbt(vm, True)  # on, but waiting for the running VM's next stun
    pending = cbt_column()
    enable_cbt(session, vm)

    assert (off, pending, cbt_column()) == ([False, False], [False, False], [True, True])


def test_disks_are_named_as_vsphere_names_them(session):
    disks = vm_disks(find_vm(session, "win-sql-01"))

    assert [(d.key, d.label, d.datastore_path) for d in disks] == [
        (2000, "Hard disk 1", "[ds-ssd-01] win-sql-01/win-sql-01.vmdk"),
        (2001, "Hard disk 2", "[ds-ssd-01] win-sql-01/win-sql-01_1.vmdk"),
    ]


def test_every_disk_has_a_sparse_flat_file_of_its_capacity(session, lab):
    for vm_name in ("win-sql-01", "web-rhel-02"):
        for disk in vm_disks(find_vm(session, vm_name)):
            datastore, path = disk.datastore_path[1:].split("] ")
            flat = f"{lab['vcenter']['datastore_dir'][datastore]}/{path[:-5]}-flat.vmdk"
            with open(flat, "rb") as handle:
                assert handle.seek(0, 2) == disk.capacity_bytes


def test_a_vm_is_found_by_name_or_moref_and_an_unknown_one_is_named(session):
    vm = find_vm(session, "app-linux-01")

    assert find_vm(session, vm._moId).name == "app-linux-01"
    with pytest.raises(VmNotFound, match="no-such-vm"):
        find_vm(session, "no-such-vm")


def test_configuration_comes_from_the_environment(monkeypatch, lab):
    vcenter = lab["vcenter"]
    for name, value in {"VMSHIFT_VCENTER_URL": vcenter["url"], "VMSHIFT_VCENTER_USER": vcenter["user"],
                        "VMSHIFT_VCENTER_PASSWORD": vcenter["password"],
                        "VMSHIFT_VCENTER_DATACENTER": vcenter["datacenter"], "VMSHIFT_CA_FILE": lab["ca_file"]}.items():
        monkeypatch.setenv(name, value)
    config = VCenterConfig.from_env()

    assert config.verify_tls and vcenter["password"] not in repr(config)
    with connect(config) as opened:
        assert opened.datacenter.name == vcenter["datacenter"]
    monkeypatch.delenv("VMSHIFT_VCENTER_PASSWORD")
    with pytest.raises(VCenterConfigError, match="VMSHIFT_VCENTER_PASSWORD"):
        VCenterConfig.from_env()


def test_a_vcenter_certificate_from_an_unknown_ca_is_refused(lab):
    vcenter = lab["vcenter"]
    config = VCenterConfig(url=vcenter["url"], user=vcenter["user"], password=vcenter["password"],
                           datacenter=vcenter["datacenter"])

    with pytest.raises(VCenterLoginFailed, match="VMSHIFT_CA_FILE"):
        connect(config)


def test_wrong_credentials_are_refused(lab):
    vcenter = lab["vcenter"]
    config = VCenterConfig(url=vcenter["url"], user=vcenter["user"], password="not-the-password",
                           datacenter=vcenter["datacenter"], ca_file=lab["ca_file"])

    with pytest.raises(VCenterLoginFailed, match="refused the login"):
        connect(config)


def test_a_vcenter_that_does_not_answer_is_named(config):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    silent = dataclasses.replace(config, url=f"https://127.0.0.1:{port}/sdk")

    with pytest.raises(VCenterUnreachable, match=str(port)):
        connect(silent)


def test_a_vm_reads_its_own_rows_without_the_whole_vcenter(session):
    frame = inventory(session, ["vsphere-lib-01", find_vm(session, "web-rhel-02")._moId, "no-such-vm"])

    assert sorted(frame["vm"].unique()) == ["vsphere-lib-01", "web-rhel-02"]
    assert frame["vcenter"].eq(session.config.name).all()
    assert facts_from_inventory(frame)["web-rhel-02"].vcenter == session.config.name
