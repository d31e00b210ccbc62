import pytest
from azure.storage.blob import ContainerClient

from vmshift.replication.extents import MIB
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.recovery_points import prune_recovery_points, take_recovery_point
from vmshift.state.document import VmState

pytestmark = pytest.mark.lab  # Azurite


def test_each_cycle_leaves_a_recovery_point_and_only_the_last_n_are_kept(container: ContainerClient) -> None:
    replica = PageBlobReplica(container, "vm-p/disk-2000.vhd", owner="vm-p/disk-2000")
    replica.ensure(4 * MIB)
    state = VmState(vm="vm-p")
    for cycle in range(1, 5):
        replica.upload_page(0, bytes([cycle]) * 512)
        state.cycles = cycle
        take_recovery_point(state, {"2000": replica}, {"2000": f"change-{cycle}"}, None)
        prune_recovery_points(state, {"2000": replica}, keep=2)

    assert [p.cycle for p in state.recovery_points] == [3, 4]
    assert [p.change_ids["2000"] for p in state.recovery_points] == ["change-3", "change-4"]
    kept = {b.snapshot for b in container.list_blobs(include=["snapshots"]) if b.snapshot}
    assert kept == {p.blob_snapshots["2000"] for p in state.recovery_points}
    oldest = replica.reader(state.recovery_points[0].blob_snapshots["2000"])
    assert oldest.read(0, 512) == bytes([3]) * 512
