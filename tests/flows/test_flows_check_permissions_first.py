"""Every flow asks vCenter and Azure for its step's permissions before anything else: refused, it fails there,
saying what is missing, and runs no other step. The check itself runs against the lab in
test_flows_refuse_without_permissions_lab.py; here it is a stand-in, so that each flow's wiring costs no lab."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import pytest
from local_steps import LocalSteps, wave_of

import flows.delta_sync
from flows.cleanup_test_migration import cleanup_test_migration
from flows.complete_migration import complete_migration
from flows.cutover import cutover
from flows.delta_sync import delta_sync
from flows.migrate_wave import migrate_wave
from flows.rollback import rollback
from flows.test_migrate import test_migrate as run_test_migrate
from flows.verify_cutover import verify_cutover
from vmshift.migration import access
from vmshift.migration.access import AccessMissing
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.state.document import VmState
from vmshift.steps import MigrationStep
from vmshift.vsphere.errors import PrivilegesMissing
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME, MissingPrivilege, ObjectKind

pytestmark = pytest.mark.usefixtures("prefect_harness")

VMS = ["vm-a", "vm-b"]


class RefusedAccess:
    """vCenter refuses every step: records what each flow asked, and answers as check_access does."""

    def __init__(self) -> None:
        self.asked: list[tuple[MigrationStep, list[str]]] = []

    def __call__(self, step: MigrationStep, appliance: Appliance, rows: list, vms: dict | None = None) -> None:
        names = sorted({*(row.source_vm for row in rows), *(vms or {})})
        self.asked.append((step, names))
        raise AccessMissing([PrivilegesMissing("svc-vmshift@vsphere.local", step, ROLE_NAME, ROLE_FILE, [
            MissingPrivilege("VirtualMachine.Interact.PowerOn", ObjectKind.VIRTUAL_MACHINE, name, f"vm-{i}", "it")
            for i, name in enumerate(names)])])


def _due_delta_sync(monkeypatch: pytest.MonkeyPatch) -> Callable[[Wave], Coroutine]:
    """A delta-sync pass in which both VMs are due."""
    monkeypatch.setattr(flows.delta_sync, "replication_states",
                        lambda accounts: ({vm: ("vmshiftcache01", VmState(vm=vm)) for vm in VMS}, []))
    monkeypatch.setattr(flows.delta_sync, "due_cycles", lambda states, *_: sorted(states))
    return lambda wave: delta_sync(cache_accounts=["vmshiftcache01"], appliance=Appliance(name="checked"),
                                   return_state=True)


FLOWS: dict[str, tuple[MigrationStep, Callable[[pytest.MonkeyPatch], Callable[[Wave], Coroutine]]]] = {
    "migrate-wave": (MigrationStep.REPLICATION,
                     lambda _: lambda wave: migrate_wave(wave, Appliance(name="checked"), return_state=True)),
    "delta-sync": (MigrationStep.REPLICATION, _due_delta_sync),
    "test-migrate": (MigrationStep.TEST_MIGRATION,
                     lambda _: lambda wave: run_test_migrate(wave, return_state=True)),
    "cleanup-test": (MigrationStep.TEST_MIGRATION,
                     lambda _: lambda wave: cleanup_test_migration(wave, return_state=True)),
    "cutover": (MigrationStep.CUTOVER, lambda _: lambda wave: cutover(wave, return_state=True)),
    "verify-cutover": (MigrationStep.CUTOVER, lambda _: lambda wave: verify_cutover(wave, return_state=True)),
    "rollback": (MigrationStep.ROLLBACK, lambda _: lambda wave: rollback(wave, return_state=True)),
    "complete-migration": (MigrationStep.COMPLETION,
                           lambda _: lambda wave: complete_migration(wave, return_state=True)),
}


@pytest.mark.parametrize("name", FLOWS)
def test_each_flow_is_refused_at_its_start_when_its_step_lacks_a_permission(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    step, make = FLOWS[name]
    steps = LocalSteps(monkeypatch, VMS)
    refused = RefusedAccess()
    monkeypatch.setattr(access, "check_access", refused)
    run = make(monkeypatch)

    state = asyncio.run(run(wave_of(f"checked-{name}", VMS)))

    assert state.is_failed()
    assert refused.asked == [(step, VMS)]
    assert "VirtualMachine.Interact.PowerOn" in state.message and ROLE_FILE in state.message
    assert steps.calls == []  # nothing else ran: no endpoint, inventory read or cycle
