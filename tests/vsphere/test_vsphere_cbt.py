"""Changed Block Tracking as a delta cycle uses it: what changed between two snapshots, and what is allocated."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyVmomi import vim, vmodl

from vmshift.lab.guest import write_guest
from vmshift.vsphere.cbt import ALL_ALLOCATED, ChangedArea, changed_areas, enable_cbt
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import ChangeIdRefused, ChangeTrackingInactive
from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.power import power_off, power_on
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot, snapshot_disks

BLOCK = 64 * 1024  # the lab's documented CBT granularity
PROBE_VM = "cbt-probe-01"  # 8 MiB disk, used by nothing else
LIB_VM = "vsphere-lib-01"  # 40 MiB + 8 MiB disks
READ_CHUNK = 1 << 20
CHANGE_ID = re.compile(r"[0-9a-f]{2}( [0-9a-f]{2}){7}-[0-9a-f]{2}( [0-9a-f]{2}){7}/\d+")  # as vSphere writes it


def blocks_of(offset: int, length: int) -> set[int]:
    return set(range(offset // BLOCK, (offset + length - 1) // BLOCK + 1)) if length else set()


def area_blocks(areas: list[ChangedArea]) -> set[int]:
    return set().union(*(blocks_of(a.start, a.length) for a in areas))


def covers(areas: list[ChangedArea], offset: int, length: int) -> bool:
    return any(a.start <= offset and offset + length <= a.start + a.length for a in areas)


class ProbeDisk:
    """What the test has written to the probe VM's disk since the session started."""

    def __init__(self, lab: dict) -> None:
        self.lab = lab
        self.ever_written: set[int] = set()


@pytest.fixture(scope="module")
def probe(lab: dict) -> ProbeDisk:
    return ProbeDisk(lab)


writes = st.lists(
    st.tuples(st.integers(0, (8 << 20) - 1), st.integers(1, 200_000), st.integers(1, 255)),
    min_size=1, max_size=10,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=writes)
def test_changed_areas_cover_every_write_between_two_snapshots_and_nothing_beyond_a_block(session, probe, writes):
    vm = find_vm(session, PROBE_VM)
    enable_cbt(session, vm)
    first = create_snapshot(session, vm, "cycle-1")
    change_id = snapshot_disks(first)[0].change_id
    remove_snapshot(session, first)
    capacity = snapshot_disks_capacity(vm)
    written = []
    for offset, length, byte in writes:
        length = min(length, capacity - offset)
        write_guest(probe.lab, PROBE_VM, offset, bytes([byte]) * length)
        written.append((offset, length))
        probe.ever_written |= blocks_of(offset, length)

    second = create_snapshot(session, vm, "cycle-2")
    try:
        disk = snapshot_disks(second)[0]
        areas = changed_areas(session, vm, second, disk.key, change_id)
        allocated = changed_areas(session, vm, second, disk.key, ALL_ALLOCATED)
        content = read_all(session, disk.datastore_path, disk.capacity_bytes)
    finally:
        remove_snapshot(session, second)

    assert all(covers(areas, offset, length) for offset, length in written)
    for area in areas:
        assert area.start % BLOCK == 0 and ((area.start + area.length) % BLOCK == 0
                                            or area.start + area.length == capacity)
    assert area_blocks(areas) == set().union(*(blocks_of(o, n) for o, n in written))
    non_zero = {b for b in range(capacity // BLOCK) if any(content[b * BLOCK:(b + 1) * BLOCK])}
    assert non_zero <= area_blocks(allocated) <= probe.ever_written


def snapshot_disks_capacity(vm: vim.VirtualMachine) -> int:
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    return disk.capacityInBytes


def read_all(session, datastore_path: str, capacity: int) -> bytes:
    reader = open_disk(session, datastore_path, capacity)
    chunks = (reader.read(offset, min(READ_CHUNK, capacity - offset)) for offset in range(0, capacity, READ_CHUNK))
    return b"".join(chunks)


def test_long_answers_page_through_start_offset(session, lab):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    base = create_snapshot(session, vm, "page-base")
    change_id = snapshot_disks(base)[0].change_id
    remove_snapshot(session, base)
    far = 39 << 20
    write_guest(lab, LIB_VM, 4096, b"near")
    write_guest(lab, LIB_VM, far, b"far")
    snapshot = create_snapshot(session, vm, "page-top")
    try:
        first_page = vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=2000, startOffset=0, changeId=change_id)
        areas = changed_areas(session, vm, snapshot, 2000, change_id)
    finally:
        remove_snapshot(session, snapshot)

    assert first_page.length < 40 << 20
    assert [(a.start, a.length) for a in areas] == [(0, BLOCK), (far, BLOCK)]


def test_query_with_cbt_off_is_refused(session, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    reconfigure_cbt(vm, False)
    snapshot = create_snapshot(session, vm, "no-cbt")
    try:
        assert snapshot_disks(snapshot)[0].change_id is None
        with pytest.raises(ChangeTrackingInactive, match="CBT is off"):
            changed_areas(session, vm, snapshot, 2000, ALL_ALLOCATED)
    finally:
        remove_snapshot(session, snapshot)


def test_a_change_id_from_before_cbt_was_switched_off_and_on_is_refused(session, lab, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    before = create_snapshot(session, vm, "before-reset")
    stale = snapshot_disks(before)[0].change_id
    remove_snapshot(session, before)
    reconfigure_cbt(vm, False)
    enable_cbt(session, vm)
    write_guest(lab, LIB_VM, 0, b"after reset")
    after = create_snapshot(session, vm, "after-reset")
    try:
        fresh = snapshot_disks(after)[0].change_id
        with pytest.raises(ChangeIdRefused, match="resync"):
            changed_areas(session, vm, after, 2000, stale)
        allocated = changed_areas(session, vm, after, 2000, ALL_ALLOCATED)
    finally:
        remove_snapshot(session, after)

    assert fresh.split("/")[0] != stale.split("/")[0]
    assert covers(allocated, 0, len(b"after reset"))


@pytest.mark.parametrize("change_id", ["52 00 11 22 33 44 55 66-77 88 99 aa bb cc dd ee/3", "not-a-change-id"])
def test_an_unknown_change_id_is_refused(session, change_id):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    snapshot = create_snapshot(session, vm, "unknown-id")
    try:
        with pytest.raises(ChangeIdRefused):
            changed_areas(session, vm, snapshot, 2000, change_id)
    finally:
        remove_snapshot(session, snapshot)


# What vCenter itself raises, asked directly (the library's mapping above must not hide a wrong fault). hostd
# reports a disk whose change tracking file cannot answer as FileFault "Error caused by file <vmdk>"; a changeId
# or offset it cannot use as InvalidArgument "A specified parameter was not correct: <parameter>".

def refused_query(session, vm: vim.VirtualMachine, fault: type[Exception], change_id: str = ALL_ALLOCATED,
                  device_key: int = 2000) -> Exception:
    """The fault vCenter raises for a query against a snapshot taken now."""
    snapshot = create_snapshot(session, vm, "raw-query")
    try:
        with pytest.raises(fault) as refused:
            vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=device_key, startOffset=0, changeId=change_id)
    finally:
        remove_snapshot(session, snapshot)
    return refused.value


def test_vcenter_answers_a_query_with_cbt_off_with_a_file_fault(session, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    reconfigure_cbt(vm, False)

    refused = refused_query(session, vm, vim.fault.FileFault)

    assert refused.file.endswith("/vsphere-lib-01/vsphere-lib-01.vmdk")
    assert refused.msg == f"Error caused by file {refused.file}"


def test_vcenter_answers_a_change_id_from_before_a_cbt_reset_with_a_file_fault(session, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    stale = current_change_id(session, vm)
    reconfigure_cbt(vm, False)
    enable_cbt(session, vm)

    refused = refused_query(session, vm, vim.fault.FileFault, change_id=stale)

    assert refused.msg.startswith("Error caused by file ")


def test_vcenter_answers_a_change_id_it_never_issued_or_cannot_parse_with_invalid_argument(session):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    tracking, sequence = current_change_id(session, vm).rsplit("/", 1)

    refused = [refused_query(session, vm, vmodl.fault.InvalidArgument, change_id=change_id)
               for change_id in (f"{tracking}/{int(sequence) + 1000}", "not-a-change-id", f"{tracking}/x")]

    assert [(fault.invalidProperty, fault.msg) for fault in refused] == [
        ("changeId", "A specified parameter was not correct: changeId")] * 3


def test_vcenter_answers_a_device_key_of_no_disk_with_invalid_argument(session):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)

    assert refused_query(session, vm, vmodl.fault.InvalidArgument, device_key=4000).invalidProperty == "deviceKey"


def test_vcenter_needs_a_snapshot_to_query_a_running_vm(session):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)

    # The "current" state only works powered off: the running VM holds its disk open.
    with pytest.raises(vim.fault.FileFault) as refused:
        vm.QueryChangedDiskAreas(snapshot=None, deviceKey=2000, startOffset=0, changeId=ALL_ALLOCATED)
    assert refused.value.file.endswith("/vsphere-lib-01/vsphere-lib-01.vmdk")


def snapshot_change_ids(session, vm: vim.VirtualMachine) -> list[str | None]:
    """The changeIds of the disks of a snapshot taken (and removed) now, as a cycle keeps them."""
    snapshot = create_snapshot(session, vm, "change-ids")
    try:
        return [disk.change_id for disk in snapshot_disks(snapshot)]
    finally:
        remove_snapshot(session, snapshot)


def tracked(change_ids: list[str | None]) -> list[bool]:
    return [bool(change_id and CHANGE_ID.fullmatch(change_id)) for change_id in change_ids]


def current_change_id(session, vm: vim.VirtualMachine) -> str:
    return snapshot_change_ids(session, vm)[0]


# KB 1031873: CBT switched on for a running VM starts at the next stun; the disks open until then have no change
# tracking file, so the snapshot that makes the stun carries no changeId.

def test_cbt_switched_on_by_a_bare_reconfigure_of_a_running_vm_waits_for_a_stun(session, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    reconfigure_cbt(vm, False)
    reconfigure_cbt(vm, True)

    stun, after = snapshot_change_ids(session, vm), snapshot_change_ids(session, vm)

    assert (stun, tracked(after)) == ([None, None], [True, True])


@pytest.mark.parametrize("switched_on_by_someone_else", [False, True])
def test_enable_cbt_on_a_running_vm_gives_the_very_next_snapshot_a_change_id(session, reconfigure_cbt,
                                                                            switched_on_by_someone_else):
    vm = find_vm(session, LIB_VM)
    reconfigure_cbt(vm, False)
    if switched_on_by_someone_else:
        reconfigure_cbt(vm, True)

    enable_cbt(session, vm)

    assert tracked(snapshot_change_ids(session, vm)) == [True, True]


def test_a_power_cycle_starts_pending_tracking(session, reconfigure_cbt):
    vm = find_vm(session, LIB_VM)
    reconfigure_cbt(vm, False)
    reconfigure_cbt(vm, True)
    try:
        power_off(session, vm)
    finally:
        power_on(session, vm)  # other tests write as this VM's guest

    assert tracked(snapshot_change_ids(session, vm)) == [True, True]
