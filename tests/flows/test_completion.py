"""complete-migration ends the replication a rollback and a new cutover need: it is refused for a VM whose migrated
disks were not proven equal to the source, with what to do; the state documents are built as the cutover and its
verification build them."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.mgmt.core.tools import resource_id
from local_steps import LOCAL, wave_of

import vmshift.migration.cutover
from vmshift.migration.cutover import CompletionRefused, complete_vm
from vmshift.plan.schema import WavePlanRow
from vmshift.state.document import (
    VERIFICATION_PASSED,
    CutoverRecord,
    DiskCheckpoint,
    DiskProof,
    DowntimeStep,
    VmState,
)
from vmshift.state.store import StoredState

MIB = 1 << 20
VM = "app-done-01"


def cut_over(proven: DiskCheckpoint | None = None, bytes_read: int = 0) -> VmState:
    """The VM's state once its cutover built the target VM: the record kept before the VM's creation (the frozen
    copy to prove), then its VM and downtime; `proven`: where a verification that stopped had got to."""
    proof = DiskProof(key=2000, managed_disk=f"{VM}-osdisk", snapshot=f"{VM}-osdisk-frozen",
                      manifest_blob=f"{VM}/disk-2000.manifest", manifest="2026-12-06T08:00:00.0000000Z",
                      proven=proven or DiskCheckpoint(), bytes_read=bytes_read)
    record = CutoverRecord(recovery_point=3, resource_group="rg-target", target_vm=VM,
                           started_at=dt.datetime(2026, 12, 6, 8, tzinfo=dt.UTC), disks={"2000": proof})
    record = record.model_copy(update={
        "target_vm_id": resource_id(subscription="s", resource_group="rg-target", namespace="Microsoft.Compute",
                                    type="virtualMachines", name=VM),
        "downtime_s": 41.2, "steps": [DowntimeStep(name="shutdown", seconds=12.0)]})
    return VmState(vm=VM, cutover=record)


class Completion:
    """complete_vm over a VM whose state document is `state`, as read from the cache account; `finished`: the
    source VMs whose replication it ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, state: VmState) -> None:
        stored = VmState.model_validate_json(state.model_dump_json())
        self.finished: list[str] = []

        class Store:
            @staticmethod
            def for_account(account: str) -> Store:
                return Store()

            def load(self, vm: str) -> StoredState:
                return StoredState(stored, '"0x1"')

        monkeypatch.setattr(vmshift.migration.cutover, "StateStore", Store)
        monkeypatch.setattr(vmshift.migration.cutover, "source_vm", lambda row, actor: row.source_vm)
        monkeypatch.setattr(vmshift.migration.cutover, "complete_migration",
                            lambda source, delete_cache_blobs: self.finished.append(source))

    def of(self, vm: WavePlanRow) -> None:
        complete_vm(vm, delete_cache_blobs=False, actor=LOCAL)


def row() -> WavePlanRow:
    return wave_of("wave-done", [VM]).vms[0]


PENDING = (f"the post-cutover verification of its disks has not finished: run the verify-cutover flow for it "
           f"(`vmshift verify-cutover --vm {VM}`; it resumes where it stopped), then complete the migration")
NO_RECORD = ("no cutover of this VM is recorded with a verification of its disks: cut it over (a cutover verifies "
             "its disks once the VM runs), then complete the migration")


@pytest.mark.parametrize(("state", "what_to_do"), [
    (cut_over(), PENDING),  # the VM runs; its verification has not begun
    (cut_over(DiskCheckpoint(resume_offset=24 * MIB), bytes_read=24 * MIB), PENDING),  # stopped halfway
    (VmState(vm=VM), NO_RECORD),  # replicated, never cut over
    (cut_over().model_copy(update={"cutover": None}), NO_RECORD),  # rolled back: its record was forgotten
], ids=["pending, not begun", "pending, stopped halfway", "never cut over", "rolled back"])
def test_completion_is_refused_until_the_verification_passed_naming_the_vm_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch, state: VmState, what_to_do: str
) -> None:
    completion = Completion(monkeypatch, state)
    with pytest.raises(CompletionRefused) as refused:
        completion.of(row())
    assert str(refused.value) == f"{VM}: {what_to_do}; nothing was changed"
    assert completion.finished == []


def test_completion_of_a_vm_whose_verification_passed_ends_its_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    state = cut_over(DiskCheckpoint(resume_offset=64 * MIB, finished=True), bytes_read=32 * MIB)
    state.cutover.verification = VERIFICATION_PASSED
    completion = Completion(monkeypatch, state)
    completion.of(row())
    assert completion.finished == [VM]
