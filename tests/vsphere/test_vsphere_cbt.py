"""Changed Block Tracking as a delta cycle uses it: what changed between two snapshots, and what is allocated."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyVmomi import vim

from vmshift.lab.guest import write_guest
from vmshift.vsphere.cbt import ALL_ALLOCATED, ChangedArea, changed_areas, enable_cbt
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import ChangeIdRefused, ChangeTrackingInactive
from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot, snapshot_disks

BLOCK = 64 * 1024  # the lab's documented CBT granularity
PROBE_VM = "cbt-probe-01"  # 8 MiB disk, used by nothing else
LIB_VM = "vsphere-lib-01"  # 40 MiB + 8 MiB disks
READ_CHUNK = 1 << 20


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


def test_query_without_a_snapshot_on_a_running_vm_is_refused_as_by_vcenter(session):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)

    with pytest.raises(vim.fault.InvalidState):
        vm.QueryChangedDiskAreas(snapshot=None, deviceKey=2000, startOffset=0, changeId=ALL_ALLOCATED)


def test_query_with_cbt_off_is_refused(session):
    vm = find_vm(session, LIB_VM)
    set_cbt(session, vm, False)
    snapshot = create_snapshot(session, vm, "no-cbt")
    try:
        assert snapshot_disks(snapshot)[0].change_id is None
        with pytest.raises(ChangeTrackingInactive, match="CBT is off"):
            changed_areas(session, vm, snapshot, 2000, ALL_ALLOCATED)
    finally:
        remove_snapshot(session, snapshot)


def test_a_change_id_from_before_cbt_was_switched_off_and_on_is_refused(session, lab):
    vm = find_vm(session, LIB_VM)
    enable_cbt(session, vm)
    before = create_snapshot(session, vm, "before-reset")
    stale = snapshot_disks(before)[0].change_id
    remove_snapshot(session, before)
    set_cbt(session, vm, False)
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


def set_cbt(session, vm: vim.VirtualMachine, enabled: bool) -> None:
    from vmshift.vsphere.tasks import wait_for_task

    wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(changeTrackingEnabled=enabled)))
