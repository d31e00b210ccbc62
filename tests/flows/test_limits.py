"""Concurrency limit names and sizes: Azure Migrate's figures unless the user overrides them."""

from __future__ import annotations

import json

import pytest

from cli.command import main
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitKind, LimitOverrideInvalid, limit_name, planned_limits, vm_slots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.facts import DiskFacts, VmFacts, facts_from_inventory
from vmshift.vsphere.inventory import inventory


def test_defaults_are_azure_migrates_figures() -> None:
    limits = planned_limits(["esx-01"], ["ds-ssd-01"], ["appliance-01"], ["vc.lab.local"])
    assert limits == {
        "vmshift-host-disk-reads:esx-01": 8,
        "vmshift-datastore-snapshots:ds-ssd-01": 15,
        "vmshift-appliance-disks:appliance-01": 52,
        "vmshift-vcenter-replicating-vms:vc.lab.local": 300,
    }


def test_one_limit_per_scope_and_overrides_apply_to_all_of_a_kind() -> None:
    limits = planned_limits(["esx-01", "esx-02", "esx-01"], [], [], [], overrides={"vmshift-host-disk-reads": 2})
    assert limits == {"vmshift-host-disk-reads:esx-01": 2, "vmshift-host-disk-reads:esx-02": 2}


def test_names_prefect_refuses_are_made_safe() -> None:
    assert limit_name(LimitKind.VCENTER_REPLICATING_VMS, "https://127.0.0.1:8989/sdk") == (
        "vmshift-vcenter-replicating-vms:https:--127.0.0.1:8989-sdk"
    )


@pytest.mark.parametrize(("overrides", "message"), [
    ({"vmshift-nfc": 3}, "unknown concurrency limit 'vmshift-nfc'"),
    ({"vmshift-appliance-disks": 0}, "at least 1"),
])
def test_bad_overrides_are_refused_with_the_known_names(overrides: dict, message: str) -> None:
    with pytest.raises(LimitOverrideInvalid, match=message):
        planned_limits([], [], ["a"], [], overrides=overrides)


@pytest.mark.usefixtures("prefect_harness")
def test_limits_setup_creates_every_limit_a_wave_over_the_inventory_takes(lab: dict, capsys) -> None:
    assert main(["limits", "setup", "--set", "vmshift-host-disk-reads=4", "--json"]) == 0
    created = json.loads(capsys.readouterr().out.splitlines()[-1])["limits"]
    facts = facts_from_inventory(inventory(connect(VCenterConfig.from_env())))
    appliance = Appliance.from_env()
    wanted = {name for vm in facts.values() for name, _ in vm_slots(vm, appliance)}
    assert wanted <= set(created)  # what the wave's VMs take, each created beforehand
    assert {size for name, size in created.items() if name.startswith("vmshift-host-disk-reads")} == {4}


def test_a_vm_takes_a_disk_slot_only_for_each_disk_it_reads() -> None:
    disks = tuple(DiskFacts(key=2000 + n, capacity_bytes=2**30, datastore_path=f"[ds-0{n % 2}] vm/vm_{n}.vmdk")
                  for n in range(3))
    facts = VmFacts("vm", "rhel8_64Guest", "efi", disks, host="esx-01", vcenter="vc")
    appliance = Appliance(name="appl-1")
    every = dict(vm_slots(facts, appliance))
    listed = dict(vm_slots(facts, appliance, included_disks=[2000, 2002]))
    assert every["vmshift-appliance-disks:appl-1"] == every["vmshift-host-disk-reads:esx-01"] == 3
    assert listed["vmshift-appliance-disks:appl-1"] == listed["vmshift-host-disk-reads:esx-01"] == 2
    # the VM's snapshot still covers every datastore of the VM, left-out disk included
    assert {name for name in listed if name.startswith("vmshift-datastore-snapshots")} == \
        {name for name in every if name.startswith("vmshift-datastore-snapshots")}
