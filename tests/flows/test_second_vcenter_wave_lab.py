"""A wave over two vCenters: each VM is read from the vCenter its plan row names (the `vcenter` column), as that
vCenter's own user, by the wave, its delta cycles and their permission checks; each replica equals its source."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from due_now import DUE_NOW
from local_steps import EXAMPLE_PLAN
from second_vcenter import one_vm_vcenter, second_vcenter_running

from flows.delta_sync import delta_sync
from flows.migrate_wave import migrate_wave
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.verify import verify_vm
from vmshift.state.store import StateStore
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.privileges import role_privileges

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
SECOND = "vcenter-c.lab.local"
VM_C = "vcc-wave-01"  # lives in the second vCenter only
VM_A = "flow-vc-01"  # in the lab's own vCenter
MIB = 1 << 20
SPEC = one_vm_vcenter(SECOND, "C", VM_C, "bios", 16)


@pytest.fixture(scope="module")
def second_vcenter(lab: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with second_vcenter_running(lab, tmp_path_factory.mktemp("vcenter-c"), SPEC, role_privileges()) as entry:
        yield entry


def two_vcenter_wave() -> Wave:
    """The example plan's web-rhel-02 row for each VM; VM_C's names the second vCenter."""
    plan = validate_plan(EXAMPLE_PLAN, now=datetime.now(UTC) - timedelta(days=1)).raise_for_errors()
    template = next(row for row in plan.waves[0].vms if row.source_vm == "web-rhel-02")
    rows = tuple(dataclasses.replace(template, source_vm=vm, target_vm_name=vm, nics=(), vcenter=vcenter,
                                     application_group=None, cache_storage_account=CACHE)
                 for vm, vcenter in ((VM_A, None), (VM_C, SECOND)))
    return dataclasses.replace(plan.waves[0], name="two-vcenters", vms=rows)


def test_a_wave_replicates_and_syncs_a_vm_of_each_vcenter_each_read_from_its_own(lab: dict,
                                                                                 second_vcenter: dict) -> None:
    in_second = {"vcenter": second_vcenter, "ca_file": lab["ca_file"]}  # the lab's guest writes, in SECOND
    write_guest(lab, VM_A, 0, os.urandom(4 * MIB))
    write_guest(in_second, VM_C, 0, os.urandom(4 * MIB))

    replicated = asyncio.run(migrate_wave(two_vcenter_wave(), Appliance()))
    assert {row["vm"]: row["outcome"] for row in replicated["vms"]} == {VM_A: "protected", VM_C: "protected"}, \
        replicated
    assert StateStore.for_account(CACHE).load(VM_C).state.vcenter == SECOND  # where its delta cycles read it

    write_guest(in_second, VM_C, MIB, os.urandom(64 << 10))
    synced = asyncio.run(delta_sync([CACHE], Appliance(), **DUE_NOW, vms=[VM_A, VM_C]))
    cycles = {row["vm"]: row for row in synced["vms"]}
    assert cycles[VM_C]["outcome"] == "protected" and cycles[VM_C]["changed_bytes"] >= 64 << 10, synced
    assert cycles[VM_A]["outcome"] == "protected", synced

    for vm, vcenter in ((VM_A, None), (VM_C, SECOND)):
        with connect(VCenterConfig.named_in_plan(vcenter)) as session:
            assert verify_vm(vm, session=session, settings=ReplicationSettings(CACHE))["equal"], vm
