"""Cutover: stop the source, replicate the last changes, build the VM in the target VNet, verify, complete.

And its way back: rollback deletes the target VM and starts the source again, replication still resumable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id

from vmshift.azure.clients import AzureClients
from vmshift.azure.disks import ManagedDiskReader, delete_disk
from vmshift.azure.errors import DiskVerificationFailed, RollbackRefused
from vmshift.azure.naming import data_disk_name, nic_name, os_disk_name
from vmshift.azure.tags import PURPOSE_MIGRATION, PURPOSE_TAG
from vmshift.azure.vms import BuildPlan, BuiltVm, TargetVmSpec, create_vm, existing_vm, import_disks, plan_build
from vmshift.replication.reader import DiskReader
from vmshift.replication.verify import compare_disks
from vmshift.state.store import StateConflict, StateStore

log = logging.getLogger(__name__)
SOURCE_POWERED_ON = "its source was powered on again"  # a note on the error of a cutover that failed
RECORD_ATTEMPTS = 5  # writes of the shutdown record that lost to another writer of the state document


class SourceVm(Protocol):
    """The source side of a cutover, as the vSphere library and the data mover provide it."""

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        """Guest shutdown; a hard power off when that is allowed and the guest is still on after `timeout_s` or
        cannot be asked (no VMware Tools). False when the source was off already."""

    def final_delta(self) -> dict[int, str]:
        """One last delta cycle; the new recovery point's blob snapshot URI per disk key. The source's disks
        as that cycle froze them stay readable (`disk_reader`) until `release`."""

    def disk_reader(self, key: int) -> DiskReader:
        """The final source snapshot's disk, to compare the managed disk with."""

    def release(self) -> None:
        """The final delta's frozen disks are no longer needed (a source snapshot is removed); idempotent."""

    def power_on(self) -> None: ...

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        """Replication stopped, source snapshots and CBT left clean, cache blobs kept or deleted."""

    def replication_finished(self) -> bool:
        """True once the migration was completed: CBT off, so replication can no longer resume."""


class ShutdownRecord(Protocol):
    """Whether vmshift shut the source down for a cutover that has no target VM yet."""

    def is_set(self) -> bool: ...

    def set(self, shut_down: bool) -> None: ...


@dataclass
class RunShutdownRecord:
    """Known to this run only: a run killed after the shutdown takes it along, and its rerun finds the source
    off with nothing saying vmshift stopped it. For callers without a state document."""

    shut_down: bool = False

    def is_set(self) -> bool:
        return self.shut_down

    def set(self, shut_down: bool) -> None:
        self.shut_down = shut_down


@dataclass(frozen=True)
class StateShutdownRecord:
    """Kept in the VM's state document (`source_shut_down_at`), so that it outlives a killed run."""

    store: StateStore
    vm: str

    def is_set(self) -> bool:
        return self.store.load(self.vm).state.source_shut_down_at is not None

    def set(self, shut_down: bool) -> None:
        for _ in range(RECORD_ATTEMPTS):
            stored = self.store.load(self.vm)
            if (stored.state.source_shut_down_at is not None) == shut_down:
                return
            stored.state.source_shut_down_at = dt.datetime.now(dt.UTC) if shut_down else None
            try:
                self.store.save(stored)
                return
            except StateConflict:  # a delta cycle saved its progress meanwhile: read it again
                continue
        raise StateConflict(f"state of {self.vm} kept changing while vmshift recorded the source's shutdown "
                            f"({RECORD_ATTEMPTS} tries): stop the delta-sync runs of this VM, then cut over again")


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
    verify: bool = True


@dataclass(frozen=True)
class DiskVerification:
    key: int
    disk_name: str
    equal: bool
    first_difference: int | None
    bytes_compared: int


@dataclass(frozen=True)
class CutoverResult:
    built: BuiltVm
    verifications: tuple[DiskVerification, ...]


def cutover(
    clients: AzureClients,
    spec: TargetVmSpec,
    source: SourceVm,
    options: CutoverOptions | None = None,
    record: ShutdownRecord | None = None,
) -> CutoverResult:
    """The whole cutover; the target's settings are checked before the source is touched.

    Run again after it succeeded, it finds the VM it built and touches neither the source nor Azure. Run again
    after a run that shut the source down and died, it powers the source on if it fails too (`record` says so).
    """
    options, record = options or CutoverOptions(), record or RunShutdownRecord()
    done = existing_vm(clients, plan_build(clients, spec))
    if done is not None:
        log.info("%s: already cut over to %s", spec.source_vm, done.vm_id)
        record.set(False)  # the run that built the VM may have died before saying so
        return CutoverResult(done, ())
    shut_down, stopped_by_earlier_run = False, record.is_set()
    if options.leave_source_running:
        log.warning("%s: cutover with the source left running, as asked", spec.source_vm)
    else:
        # Recorded before the shutdown: a kill between the two must not lose it.
        record.set(True)
        shut_down = source.shut_down(options.shutdown_timeout_s, options.allow_hard_power_off)
        if not shut_down and not stopped_by_earlier_run:
            record.set(False)  # off before the cutover: not vmshift's to start again
    try:
        try:
            final_uris = source.final_delta()
            final_spec = replace(spec, disks=tuple(replace(d, source_uri=final_uris[d.key]) for d in spec.disks))
            plan = plan_build(clients, final_spec)
            disks = import_disks(clients, plan)
            verifications = verify_disks(clients, plan, source) if options.verify else ()
        except BaseException as error:
            _release_after_failure(source, error)
            raise
        source.release()
        built = create_vm(clients, plan, disks)
    except Exception as error:
        # The target VM is created last, so a failed cutover has none: never leave the source off too, unless
        # it was off before the cutover.
        if shut_down or stopped_by_earlier_run:
            source.power_on()
            record.set(False)
            error.add_note(SOURCE_POWERED_ON)
        raise
    record.set(False)
    return CutoverResult(built, verifications)


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


def verify_disks(clients: AzureClients, plan: BuildPlan, source: SourceVm) -> tuple[DiskVerification, ...]:
    """Each managed disk read back through grantAccess equals the final source snapshot, byte for byte.

    Done before the VM exists: Azure grants read access only to a disk that no running VM holds.
    """
    spec = plan.spec
    keys = [spec.os_disk_key, *sorted(d.key for d in spec.disks if d.key != spec.os_disk_key)]
    results = []
    for key, (disk, _lun) in zip(keys, plan.disks, strict=True):
        with ManagedDiskReader(clients, spec.resource_group, disk.name) as managed:
            comparison = compare_disks(source.disk_reader(key), managed)
        results.append(
            DiskVerification(key, disk.name, comparison.equal, comparison.first_difference, comparison.bytes_compared)
        )
        if not comparison.equal:
            # Disks known to be wrong would block the next attempt (same names, another recovery point).
            for bad, _ in plan.disks:
                delete_disk(clients, spec.resource_group, bad.name)
            raise DiskVerificationFailed(
                f"VM {spec.source_vm}: managed disk {disk.name} differs from source disk {key} at byte "
                f"{comparison.first_difference}; the VM was not created and its imported disks were deleted; "
                "run the cutover again (with a resync of that disk if it differs again)"
            )
    return tuple(results)


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
    for name in disks if delete_disks else []:
        with contextlib.suppress(ResourceNotFoundError):
            disk = compute.disks.get(resource_group, name)
            delete_disk(clients, resource_group, name, disk)
            deleted.append(disk.id)
    source.power_on()
    if record is not None:
        record.set(False)
    return tuple(deleted)
