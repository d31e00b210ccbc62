import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from vmshift.replication.checkpoint import remaining
from vmshift.replication.extents import (
    MAX_PAGE_WRITE,
    MIB,
    DiskExtent,
    UnalignedDisk,
    plan_writes,
    subtract,
)
from vmshift.state.document import DiskCheckpoint

DISK = 64 * MIB
areas = st.lists(
    st.builds(DiskExtent, st.integers(0, DISK - 1), st.integers(1, 9 * MIB)).map(
        lambda e: DiskExtent(e.offset, min(e.length, DISK - e.offset))
    ),
    max_size=12,
)


def covered(extents: list[DiskExtent]) -> set[int]:
    """Covered 512-byte sectors, small enough to compare as sets."""
    return {s for e in extents for s in range(e.offset // 512, -(-e.end // 512))}


@settings(max_examples=40, deadline=None)
@given(areas)
def test_page_writes_cover_every_changed_byte_aligned_and_within_azure_limits(changed: list[DiskExtent]) -> None:
    writes = list(plan_writes(changed, DISK))
    assert covered(writes) == covered(changed)
    for write in writes:
        assert write.offset % 512 == 0 and write.length % 512 == 0
        assert 0 < write.length <= MAX_PAGE_WRITE
        assert write.end <= DISK
    assert writes == sorted(writes)
    assert all(a.end <= b.offset for a, b in itertools.pairwise(writes))


def test_touching_areas_are_coalesced_into_one_write() -> None:
    assert list(plan_writes([DiskExtent(0, 1000), DiskExtent(1000, 24), DiskExtent(4096, 512)], DISK)) == [
        DiskExtent(0, 1024),
        DiskExtent(4096, 512),
    ]


def test_large_area_is_split_into_4_mib_writes() -> None:
    writes = list(plan_writes([DiskExtent(MIB, 9 * MIB)], DISK))
    assert [w.length for w in writes] == [4 * MIB, 4 * MIB, MIB]


def test_disk_not_a_multiple_of_512_is_refused() -> None:
    try:
        plan_writes([DiskExtent(0, 100)], 1000)
    except UnalignedDisk as error:
        assert "1000 bytes" in str(error)
    else:
        raise AssertionError("an unaligned disk was accepted")


small_areas = st.lists(st.builds(DiskExtent, st.integers(0, 4096), st.integers(0, 700)), max_size=8)


def byte_set(extents: list[DiskExtent]) -> set[int]:
    return {x for e in extents for x in range(e.offset, e.end)}


@settings(max_examples=40, deadline=None)
@given(small_areas, small_areas)
def test_subtract_leaves_exactly_the_uncovered_bytes(a: list[DiskExtent], b: list[DiskExtent]) -> None:
    assert byte_set(subtract(a, b)) == byte_set(a) - byte_set(b)


def test_checkpoint_leaves_what_is_past_its_offset_and_not_done_out_of_order() -> None:
    checkpoint = DiskCheckpoint(resume_offset=8 * MIB, done_beyond=[(12 * MIB, 4 * MIB)])
    assert remaining([DiskExtent(0, 20 * MIB)], checkpoint) == [
        DiskExtent(8 * MIB, 4 * MIB),
        DiskExtent(16 * MIB, 4 * MIB),
    ]
    assert remaining([DiskExtent(0, 20 * MIB)], DiskCheckpoint(resume_offset=20 * MIB, finished=True)) == []
