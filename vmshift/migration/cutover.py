"""Cutover: stop the source, replicate the last changes, build the VM in the target VNet; complete once verified.

And its way back: rollback deletes the target VM and starts the source again, replication still resumable.
The engine takes any `SourceVm`; the end of the module runs it for a plan's row, with the vSphere source.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute.models import Disk
from azure.mgmt.core.tools import parse_resource_id, resource_id

from vmshift.azure.built import ROLLBACK_WITH_DISKS, naming_what_exists
from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import delete_disk, delete_frozen_copy, freeze_disk, frozen_copy_name
from vmshift.azure.errors import RollbackRefused
from vmshift.azure.naming import data_disk_name, nic_name, os_disk_name
from vmshift.azure.sql_vm import ensure_sql_vm
from vmshift.azure.tags import PURPOSE_MIGRATION, PURPOSE_TAG
from vmshift.azure.vms import BuildPlan, BuiltVm, TargetVmSpec, create_vm, existing_vm, import_disks, plan_build
from vmshift.migration import row_lifecycle
from vmshift.migration.appliance import Appliance
from vmshift.migration.preparation import prepare_final_os_disk, prepare_target
from vmshift.migration.readiness import CutoverFacts
from vmshift.migration.source import FinalDelta, FrozenDisk, VSphereSourceVm
from vmshift.migration.staging import CacheStaging, StagedDisks
from vmshift.migration.target import target_clients, target_name, target_spec
from vmshift.plan.schema import SqlLicense, Wave, WavePlanRow
from vmshift.preparation.prepare import Preparation
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.readback import Mirror
from vmshift.state import lifecycle
from vmshift.state.document import (
    VERIFICATION_FAILED,
    VERIFICATION_PASSED,
    CutoverRecord,
    DiskProof,
    DowntimeStep,
    VmState,
)
from vmshift.state.lifecycle import Actor, LifecycleRefused, Step
from vmshift.state.store import StateConflict, StateStore
from vmshift.vsphere.connection import VCenterConfig
from vmshift.vsphere.connection import connect as connect_vcenter
from vmshift.vsphere.facts import VmFacts

log = logging.getLogger(__name__)
SOURCE_POWERED_ON = "its source was powered on again"  # a note on the error of a cutover that failed
RECORD_ATTEMPTS = 5  # writes of the shutdown record that lost to another writer of the state document


class SourceVm(Protocol):
    """The source side of a cutover, as the vSphere library and the data mover provide it."""

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        """Guest shutdown; a hard power off when that is allowed and the guest is still on after `timeout_s` or
        cannot be asked (no VMware Tools). False when the source was off already."""

    def final_delta(self, keep_snapshot: bool, mirrors: Mapping[int, Mirror] | None = None) -> FinalDelta:
        """One last delta cycle, its written ranges read back against the manifest (a ReplicaMismatch when they
        differ); the new recovery point per disk. `keep_snapshot`: the source's snapshot of that cycle stays (a
        source left running) until `release`. `mirrors`: by disk key, where what is read back is written too."""

    def release(self, kept_snapshot: str | None = None) -> None:
        """The final delta's kept snapshot is no longer needed (a source snapshot is removed); idempotent."""

    def power_on(self) -> None: ...

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        """Replication stopped, source snapshots and CBT left clean, cache blobs kept or deleted."""

    def replication_finished(self) -> bool:
        """True once the migration was completed: CBT off, so replication can no longer resume."""


class ShutdownRecord(Protocol):
    """Whether vmshift shut the source down for a cutover that has no target VM yet, and the cutover's record
    (its downtime steps, the frozen copies the verification after it proves)."""

    def is_set(self) -> bool: ...

    def set(self, shut_down: bool) -> None: ...

    def keep(self, cutover: CutoverRecord) -> None: ...


@dataclass
class RunShutdownRecord:
    """Known to this run only: a run killed after the shutdown takes it along, and its rerun finds the source
    off with nothing saying vmshift stopped it. For callers without a state document."""

    shut_down: bool = False
    cutover: CutoverRecord | None = None

    def is_set(self) -> bool:
        return self.shut_down

    def set(self, shut_down: bool) -> None:
        self.shut_down = shut_down

    def keep(self, cutover: CutoverRecord) -> None:
        self.cutover = cutover


@dataclass(frozen=True)
class StateShutdownRecord:
    """Kept in the VM's state document (`source_shut_down_at`, `cutover`), so that it outlives a killed run."""

    store: StateStore
    vm: str

    def is_set(self) -> bool:
        return self.store.load(self.vm).state.source_shut_down_at is not None

    def set(self, shut_down: bool) -> None:
        def record(state: VmState) -> bool:
            if (state.source_shut_down_at is not None) == shut_down:
                return False
            state.source_shut_down_at = dt.datetime.now(dt.UTC) if shut_down else None
            return True
        update_state(self.store, self.vm, record, "the source's shutdown")

    def keep(self, cutover: CutoverRecord | None) -> None:
        def record(state: VmState) -> bool:
            state.cutover = cutover
            return True
        update_state(self.store, self.vm, record, "its cutover")

    def forget_cutover(self) -> None:
        self.keep(None)


def update_state(store: StateStore, vm: str, change: Callable[[VmState], bool], what: str) -> VmState:
    """Applies `change` to the VM's state document and saves it (when it says it changed something), reading it
    again when another writer saved it meanwhile."""
    for _ in range(RECORD_ATTEMPTS):
        stored = store.load(vm)
        if not change(stored.state):
            return stored.state
        try:
            store.save(stored)
            return stored.state
        except StateConflict:  # a delta cycle saved its progress meanwhile: read it again
            continue
    raise StateConflict(f"state of {vm} kept changing while vmshift recorded {what} ({RECORD_ATTEMPTS} tries): "
                        "stop the delta-sync runs of this VM, then run the step again")


@dataclass(frozen=True)
class CutoverOptions:
    """How the cutover treats the source.

    `allow_hard_power_off`: a guest still on `shutdown_timeout_s` after the shutdown request, or one that cannot
    be asked (no VMware Tools), is powered off hard; if not allowed, the cutover fails and leaves it running.
    `leave_source_running`: no shutdown at all; what the guest writes after the final delta is not migrated.
    """

    shutdown_timeout_s: float = 600.0
    allow_hard_power_off: bool = True
    leave_source_running: bool = False


@dataclass(frozen=True)
class CutoverResult:
    built: BuiltVm
    record: CutoverRecord | None  # None when an earlier run had built the VM: this run did nothing
    preparation: Preparation | None = None  # what preparing the final recovery point's OS disk changed


# The final delta's OS disk prepared for Azure during the outage: the disk to import and prove instead, and the
# preparation's record.
PrepareOsDisk = Callable[[FrozenDisk], tuple[FrozenDisk, Preparation]]


@dataclass
class OutageClock:
    """The steps of the outage, each timed as it runs: the downtime, broken down."""

    steps: list[DowntimeStep] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str, nbytes: int | None = None) -> Iterator[DowntimeStep]:
        """Times the block as the step; its bytes may be set inside it, once known."""
        started, step = time.monotonic(), DowntimeStep(name=name, seconds=0.0, bytes=nbytes)
        try:
            yield step
        finally:
            step.seconds = round(time.monotonic() - started, 3)
            self.steps.append(step)


def cutover(
    clients: AzureClients,
    spec: TargetVmSpec,
    source: SourceVm,
    options: CutoverOptions | None = None,
    record: ShutdownRecord | None = None,
    prepare: PrepareOsDisk | None = None,
    staging: CacheStaging | None = None,
) -> CutoverResult:
    """The outage, and nothing else: shutdown, final delta (whose ranges are read back against the manifest:
    nothing else is read), OS preparation (with `prepare`), disk import, frozen copies of the imported disks, VM
    creation. The disks are proven whole afterwards, from the frozen copies, while the VM runs
    (vmshift.migration.verification).

    With `staging`, the VM's disks are built from the latest recovery point before the source is shut down, and
    the final delta's read-back writes what it changed into them: the outage then does not grow with the disks
    (a disk prepared for Azure inside the outage, or one too small to upload, is imported as before). Should the
    final delta not be a delta of the point they hold (a cycle ended between the staging and the shutdown), they
    are filled again from the final recovery point inside the outage: the step "staged disks refill", its bytes.

    The target's settings are checked before the source is touched. Run again after it succeeded, it finds the VM
    it built and touches neither the source nor Azure. Run again after a run that shut the source down and died,
    it powers the source on if it fails too (`record` says so).
    """
    options, record = options or CutoverOptions(), record or RunShutdownRecord()
    plan = plan_build(clients, spec)
    done = existing_vm(clients, plan)
    if done is not None:
        log.info("%s: already cut over to %s", spec.source_vm, done.vm_id)
        record.set(False)  # the run that built the VM may have died before saying so
        return CutoverResult(done, None)
    staged = None
    if staging is not None:
        keys = disk_keys(spec)
        disks = staging.stage(clients, plan, keys, [key for key in keys if prepare is None or key != spec.os_disk_key])
        staged = (staging, disks) if disks else None  # none staged: every disk is imported inside the outage
    clock, shut_down, stopped_by_earlier_run = OutageClock(), False, record.is_set()
    if options.leave_source_running:
        log.warning("%s: cutover with the source left running, as asked", spec.source_vm)
    else:
        # Recorded before the shutdown: a kill between the two must not lose it.
        record.set(True)
    # The downtime runs from here (the source goes down first) to the VM created.
    started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
    if not options.leave_source_running:
        with clock.step("shutdown"):
            shut_down = source.shut_down(options.shutdown_timeout_s, options.allow_hard_power_off)
        if not shut_down and not stopped_by_earlier_run:
            record.set(False)  # off before the cutover: not vmshift's to start again
    try:
        try:
            cutover_record, final_plan, disks, preparation = _freeze(clients, plan, source, options, record, clock,
                                                                     started_at, prepare, staged)
            with clock.step("VM creation"):
                built = create_vm(clients, final_plan, disks)
        except BaseException as error:
            _release_after_failure(source, error)
            raise
    except Exception as error:
        # The target VM is created last, so a failed cutover has none: never leave the source off too, unless
        # it was off before the cutover.
        if shut_down or stopped_by_earlier_run:
            source.power_on()
            record.set(False)
            error.add_note(SOURCE_POWERED_ON)
        raise
    downtime = time.monotonic() - started
    record.set(False)
    cutover_record = cutover_record.model_copy(update={"target_vm_id": built.vm_id, "downtime_s": round(downtime, 3),
                                                       "steps": clock.steps})
    record.keep(cutover_record)
    return CutoverResult(built, cutover_record, preparation)


def _freeze(
    clients: AzureClients, plan: BuildPlan, source: SourceVm, options: CutoverOptions, record: ShutdownRecord,
    clock: OutageClock, started_at: dt.datetime, prepare: PrepareOsDisk | None,
    staging: tuple[CacheStaging, StagedDisks] | None,
) -> tuple[CutoverRecord, BuildPlan, list[Disk], Preparation | None]:
    """Final delta, range check, OS preparation, import, frozen copies: the target's disks as the VM will start
    from them, and a copy of each that the VM never writes, recorded before the VM is created. `staging`: the
    disks staged before the shutdown, and how."""
    delta_started = time.monotonic()
    staged = staging[1] if staging else None
    if staged is not None:
        final = source.final_delta(keep_snapshot=options.leave_source_running, mirrors=staged.mirrors())
    else:
        final = source.final_delta(keep_snapshot=options.leave_source_running)
    delta_s = time.monotonic() - delta_started
    # The cycle reads back what it wrote before it counts; its seconds are shown apart from the copy's.
    clock.steps += [DowntimeStep(name="final delta", seconds=round(delta_s - final.range_check_seconds, 3),
                                 bytes=final.changed_bytes),
                    DowntimeStep(name="range check", seconds=round(final.range_check_seconds, 3),
                                 bytes=final.range_check_bytes)]
    spec = plan.spec
    preparation = None
    if prepare is not None:  # the OS disk imported from its prepared copy, and proven against that copy's manifest
        with clock.step("OS preparation"):
            prepared, preparation = prepare(final.disks[spec.os_disk_key])
        final = replace(final, disks={**final.disks, prepared.key: prepared})
    keys = disk_keys(spec)
    final_plan = replace(plan, spec=replace(spec, disks=tuple(replace(d, source_uri=final.disks[d.key].source_uri)
                                                              for d in spec.disks)),
                         disks=tuple((replace(disk, source_uri=final.disks[key].source_uri), lun)
                                     for key, (disk, lun) in zip(keys, plan.disks, strict=True)))
    made: dict[str, Disk] = {}
    if staging is not None:
        cache, staged = staging
        behind = _behind(staged, final, spec.source_vm)
        with naming_what_exists(f"the cutover of VM {spec.source_vm}: its staged disks", staged.ids,
                                ROLLBACK_WITH_DISKS):
            if behind:  # the recovery point read and copied whole inside the outage: a step of its own, its bytes
                with clock.step("staged disks refill") as refill:
                    refill.bytes = cache.refill(staged, behind)
            with clock.step("staged disks"):
                made = {disk.name: disk.seal() for disk in staged.disks.values()}
    if len(made) < len(final_plan.disks):
        with clock.step("disk import"):
            disks = import_disks(clients, final_plan, made)
    else:
        disks = [made[disk.name] for disk, _lun in final_plan.disks]
    built = [disk.id for disk in disks]
    with clock.step("frozen copies"), naming_what_exists(f"the frozen copies of VM {spec.source_vm}'s disks", built,
                                                          ROLLBACK_WITH_DISKS):
        proofs = {}
        for key, disk in zip(keys, disks, strict=True):
            frozen = final.disks[key]
            proofs[str(key)] = DiskProof(key=key, managed_disk=disk.name,
                                         snapshot=freeze_disk(clients, spec.resource_group, disk, plan.disk_tags),
                                         manifest_blob=frozen.manifest_blob, manifest=frozen.manifest_snapshot)
            built.append(resource_id(subscription=clients.config.subscription_id, resource_group=spec.resource_group,
                                     namespace="Microsoft.Compute", type="snapshots", name=proofs[str(key)].snapshot))
        cutover_record = CutoverRecord(recovery_point=final.recovery_point, resource_group=spec.resource_group,
                                       target_vm=plan.vm_name, started_at=started_at, disks=proofs,
                                       source_snapshot=final.kept_snapshot, staging=_staging_step(staged))
        record.keep(cutover_record)  # before the VM: a run killed once it exists leaves what to prove
    return cutover_record, final_plan, disks, preparation


def _behind(staged: StagedDisks, final: FinalDelta, vm: str) -> list[int]:
    """The staged disks the final delta's ranges did not bring to the final recovery point: every one when the
    final delta is no delta of the point they hold (a cycle ran between the staging and the shutdown), and those
    it compared whole."""
    behind = [key for key in staged.disks if final.recovery_point != staged.point + 1 or key in final.resynced]
    for key in behind:
        log.warning("%s: disk %s was staged from recovery point %d, the final delta is %d%s: filling it again from "
                    "the final recovery point inside the outage", vm, key, staged.point, final.recovery_point,
                    " (compared whole)" if key in final.resynced else "")
    return behind


def _staging_step(staged: StagedDisks | None) -> DowntimeStep | None:
    if staged is None:
        return None
    return DowntimeStep(name=f"disks staged from recovery point {staged.point}", seconds=round(staged.seconds, 3),
                        bytes=staged.bytes_copied)


def disk_keys(spec: TargetVmSpec) -> list[int]:
    """The source disk keys in the order the build plan imports them: the OS disk, then the data disks by key."""
    return [spec.os_disk_key, *sorted(d.key for d in spec.disks if d.key != spec.os_disk_key)]


def _release_after_failure(source: SourceVm, error: BaseException) -> None:
    """A failed cutover releases the final delta's frozen disks too; should that fail as well, the cutover's
    own error is the one raised, with a note of what was left."""
    try:
        source.release()
    except Exception as release_error:
        error.add_note(f"the final delta's source snapshot was not removed ({release_error}); the next replication "
                       "cycle or cutover of the VM removes it")


def restart_source_left_off(
    clients: AzureClients, source: SourceVm, record: ShutdownRecord, *, resource_group: str, vm_name: str
) -> bool:
    """For a cutover refused (or failed before it began) after an earlier run shut the source down and died:
    the source powered on again unless that run built the target VM. True when it was powered on."""
    if not record.is_set():
        return False
    try:
        target = clients.compute.virtual_machines.get(resource_group, vm_name)
    except ResourceNotFoundError:
        target = None
    if target is not None and (target.tags or {}).get(PURPOSE_TAG) == PURPOSE_MIGRATION:
        return False  # cut over: the next cutover run finds the VM and clears the record
    source.power_on()
    record.set(False)
    return True


def complete_migration(source: SourceVm, *, delete_cache_blobs: bool = False) -> None:
    """After a good cutover: no more cycles, the source's snapshots and CBT clean, cache blobs as the policy says."""
    source.finish_replication(delete_cache_blobs)


def rollback_cutover(
    clients: AzureClients,
    source: SourceVm,
    *,
    resource_group: str,
    vm_name: str,
    delete_disks: bool = False,
    record: ShutdownRecord | None = None,
) -> tuple[str, ...]:
    """Deletes the target VM and its NIC (its disks too when asked) and starts the source again.

    Replication is left as it was, so the next delta cycle resumes from the last changeId. Run again,
    it deletes nothing more; found by name, so a half-finished cutover is rolled back as well. Refused
    once the migration was completed: the VM in Azure is then the only one that replication can follow.
    """
    if source.replication_finished():
        raise RollbackRefused(
            f"{vm_name} in {resource_group}: the migration was completed (replication stopped, CBT off on the "
            "source, cache blobs perhaps deleted), so a rollback could not resume replication; nothing was "
            "deleted. To go back, keep or delete the Azure VM yourself and replicate the source from scratch"
        )
    compute, network = clients.compute, clients.network
    deleted: list[str] = []
    try:
        vm = compute.virtual_machines.get(resource_group, vm_name)
    except ResourceNotFoundError:
        vm = None
    if vm is not None:
        storage = vm.properties.storage_profile
        nics = [parse_resource_id(n.id)["name"] for n in vm.properties.network_profile.network_interfaces]
        disks = [parse_resource_id(d.managed_disk.id)["name"] for d in (storage.os_disk, *(storage.data_disks or []))]
        compute.virtual_machines.begin_delete(resource_group, vm_name).result()
        deleted.append(vm.id)
    else:
        nics = [nic_name(vm_name)]
        data_disk_prefix = data_disk_name(vm_name, 0).removesuffix("0")
        disks = [
            d.name
            for d in compute.disks.list_by_resource_group(resource_group)
            if d.name == os_disk_name(vm_name) or d.name.startswith(data_disk_prefix)
        ]
    for name in nics:
        with contextlib.suppress(ResourceNotFoundError):
            nic = network.network_interfaces.get(resource_group, name)
            network.network_interfaces.begin_delete(resource_group, name).result()
            deleted.append(nic.id)
    for name in disks:  # the frozen copies served the verification of this cutover only
        delete_frozen_copy(clients, resource_group, frozen_copy_name(name))
    for name in disks if delete_disks else []:
        with contextlib.suppress(ResourceNotFoundError):
            disk = compute.disks.get(resource_group, name)
            delete_disk(clients, resource_group, name, disk)
            deleted.append(disk.id)
    source.power_on()
    if record is not None:
        record.set(False)
    return tuple(deleted)


# A plan's row cut over, completed, rolled back -------------------------------------------------------------


class CutoverFailed(RuntimeError):
    """The cutover stopped before the target VM existed; the message says whether the source runs again."""


class CompletionRefused(RuntimeError):
    """complete-migration asked for a VM whose migrated disks were not proven equal to the source."""


class SqlRegistrationFailed(RuntimeError):
    """The VM was cut over, and its SQL Server VM resource (the plan's sql_license) could not be made."""


@dataclass(frozen=True)
class CutoverDone:
    vm: str
    target_vm_id: str
    resources: tuple[str, ...]
    record: CutoverRecord | None  # the outage's steps and the disks to prove; None if it was cut over before
    preparation: Preparation | None  # None: the plan turns preparation off, or it was cut over before


def gate_facts(wave: Wave, vms: Sequence[WavePlanRow], appliance: Appliance) -> list[CutoverFacts]:
    """Each VM's replication state, lifecycle and plan entries as the gates read them."""
    facts = []
    for vm in vms:
        state = StateStore.for_account(vm.cache_storage_account).load(vm.source_vm).state
        try:
            lifecycle.next_phase(state, Step.CUTOVER)
            refusal = None
        except LifecycleRefused as refused:
            refusal = refused.reason
        window = vm.cutover_window or wave.cutover_window
        facts.append(CutoverFacts(
            vm=vm.source_vm,
            last_delta_end=state.last_cycle.finished_at if state.last_cycle else None,
            phase_refusal=refusal,
            test_migrated=_tested_as_planned(state),
            application_group=vm.application_group,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            cutover_at=vm.cutover_at,
            allow_cutover=vm.allow_cutover,
            appliance=appliance.name,
        ))
    return facts


def _tested_as_planned(state: VmState) -> bool:
    """Test-migrated at least once, and its test VM, read back, was as the plan asked."""
    tested = lifecycle.last_change(state, Step.TEST_MIGRATE)
    return tested is not None and tested.note is None


def cut_over_vm(
    vm: WavePlanRow, facts: VmFacts, appliance: Appliance, shutdown_timeout_s: float, actor: Actor
) -> CutoverDone:
    """Shut the source down, final delta and its range check, OS disk prepared, managed disks and their frozen
    copies, VM in the target VNet, then its SQL Server VM resource when the plan gives a licence; the disks are
    proven after (vmshift.migration.verification). The VM is cutting-over from before the shutdown, migrated once its
    target VM exists, and back where it was when the cutover failed with its source running.

    The latest recovery point's preparation (the test migration's, reused) comes first: an OS vmshift cannot
    prepare, or a rule that fails, stops the cutover before the source is touched."""
    row_lifecycle.take(vm, Step.CUTOVER, actor)
    record = shutdown_record(vm)
    try:  # from here on, a failure takes the VM out of cutting-over again
        clients, appliance_subscription = target_clients(vm)
        spec = target_spec(vm, facts, appliance, appliance_subscription, actor.run or "manual")
        source = source_vm(vm, actor)
        prepare_target(vm, spec)
        options = CutoverOptions(shutdown_timeout_s=shutdown_timeout_s, leave_source_running=not vm.turn_off_source)
        prepare = partial(prepare_final_os_disk, vm.source_vm, vm.cache_storage_account) if vm.prepare_os else None
        result = cutover(clients, spec, source, options, record, prepare, CacheStaging(source.settings, vm.source_vm))
    except Exception as error:
        again = f" and {SOURCE_POWERED_ON}" if SOURCE_POWERED_ON in getattr(error, "__notes__", ()) else ""
        failed = CutoverFailed(f"cutover of {vm.source_vm} failed{again}; replication goes on from the last "
                               f"cycle: {type(error).__name__}: {error}")
        if not record.is_set():  # no source of ours left off: the VM is back where it was
            row_lifecycle.take(vm, Step.CUTOVER_FAILED, actor, note=str(failed))
        raise failed from error
    row_lifecycle.take(vm, Step.CUTOVER_DONE, actor)
    built = result.built
    resources = built.resources
    if vm.sql_license is not SqlLicense.NONE:
        resources = (*resources, register_sql_vm(clients, vm, built))
    return CutoverDone(vm.source_vm, built.vm_id, resources, result.record, result.preparation)


def register_sql_vm(clients: AzureClients, vm: WavePlanRow, built: BuiltVm) -> str:
    """The migrated VM's SQL Server VM resource with the plan's licence, as Azure Migrate makes it after the VM;
    its ID. A cutover run again (the VM found built) registers it again, so a failure here is mended by that."""
    try:
        return ensure_sql_vm(clients, vm_id=built.vm_id, vm_name=built.vm_name, resource_group=vm.resource_group,
                             region=vm.region, license_type=vm.sql_license.value, tags=dict(vm.resource_tags("vm")),
                             source_vm=vm.source_vm).id
    except Exception as error:
        raise SqlRegistrationFailed(
            f"{vm.source_vm} was cut over to {built.vm_id}, and registering it as a SQL Server VM with licence "
            f"{vm.sql_license} failed: {type(error).__name__}: {error}; run its cutover again to register it "
            "(the VM is kept)") from error


def complete_vm(vm: WavePlanRow, delete_cache_blobs: bool, actor: Actor) -> None:
    """No more cycles for the VM; source snapshots and CBT left clean; cache blobs kept or deleted. Refused
    unless the post-cutover verification proved every migrated disk equal to the source."""
    cutover_record = StateStore.for_account(vm.cache_storage_account).load(vm.source_vm).state.cutover
    if cutover_record is None or cutover_record.verification != VERIFICATION_PASSED:
        raise CompletionRefused(f"{vm.source_vm}: {_not_proven(vm.source_vm, cutover_record)}; nothing was changed")
    complete_migration(source_vm(vm, actor), delete_cache_blobs=delete_cache_blobs)


def _not_proven(vm: str, record: CutoverRecord | None) -> str:
    if record is None:
        return ("no cutover of this VM is recorded with a verification of its disks: cut it over (a cutover "
                "verifies its disks once the VM runs), then complete the migration")
    if record.verification == VERIFICATION_FAILED:
        wrong = next(proof for proof in record.disks.values() if proof.mismatches)
        return (f"the post-cutover verification found managed disk {wrong.managed_disk} (source disk {wrong.key}) "
                f"different from the source at byte offset {wrong.mismatches[0][0]}; completing would stop the "
                f"replication that can repair it: roll back (`vmshift rollback --vm {vm}`), then cut over again "
                "(the next cycle writes the differing chunks again)")
    return ("the post-cutover verification of its disks has not finished: run the verify-cutover flow for it "
            f"(`vmshift verify-cutover --vm {vm}`; it resumes where it stopped), then complete the migration")


def roll_back_vm(vm: WavePlanRow, delete_disks: bool, actor: Actor) -> tuple[str, ...]:
    """Delete the target VM (and its NIC, disks when asked) and power the source on; replication resumes."""
    row_lifecycle.check(vm, Step.ROLLBACK)
    record = shutdown_record(vm)
    deleted = rollback_cutover(target_clients(vm)[0], source_vm(vm, actor), resource_group=vm.resource_group,
                               vm_name=target_name(vm), delete_disks=delete_disks, record=record)
    record.forget_cutover()  # its verification, passed or not, is of a VM that no longer runs
    row_lifecycle.take(vm, Step.ROLLBACK, actor)
    return deleted


def restart_vm_source_left_off(vm: WavePlanRow, actor: Actor) -> bool:
    """After a refused or failed cutover: the source powered on again if an earlier cutover run shut it down
    and died before building the target VM (that cutover then failed). True when it was."""
    record = shutdown_record(vm)
    if not record.is_set():  # the usual case: no need to reach vCenter or ARM
        return False
    restarted = restart_source_left_off(target_clients(vm)[0], source_vm(vm, actor), record,
                                        resource_group=vm.resource_group, vm_name=target_name(vm))
    if restarted:
        row_lifecycle.take(vm, Step.CUTOVER_FAILED, actor, note=f"an earlier cutover run died; {SOURCE_POWERED_ON}")
    return restarted


def source_vm(vm: WavePlanRow, actor: Actor) -> VSphereSourceVm:
    """The row's source VM in its vCenter (the plan's `vcenter`; none: the default one); its final delta runs with
    the appliance's replication settings (a lifted bandwidth cap only when they lift it: `for_outage`)."""
    return VSphereSourceVm(connect_vcenter(VCenterConfig.named_in_plan(vm.vcenter)), vm.source_vm,
                           ReplicationSettings.from_env(vm.cache_storage_account).for_outage(), actor)


def shutdown_record(vm: WavePlanRow) -> StateShutdownRecord:
    return StateShutdownRecord(StateStore.for_account(vm.cache_storage_account), vm.source_vm)
