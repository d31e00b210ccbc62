import pytest
from azure.storage.blob import ContainerClient

from vmshift.replication.digests import CHUNK, DIGEST_SIZE, digests_of
from vmshift.replication.extents import MIB, DiskExtent
from vmshift.replication.manifest import Manifest
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.recovery_points import prune_recovery_points, take_recovery_point
from vmshift.state.document import VmState

pytestmark = pytest.mark.lab  # Azurite


def test_each_cycle_leaves_a_recovery_point_with_its_manifest_and_only_the_last_n_are_kept(
    container: ContainerClient,
) -> None:
    replica = PageBlobReplica(container, "vm-p/disk-2000.vhd", owner="vm-p/disk-2000")
    replica.ensure(4 * MIB)
    manifest = Manifest(container, "vm-p/disk-2000.manifest", owner="vm-p/disk-2000")
    manifest.start_over(4 * MIB)
    state = VmState(vm="vm-p")
    for cycle in range(1, 5):
        chunk = bytes([cycle]) * CHUNK
        replica.upload_page(0, chunk)
        writer = manifest.writer(4 * MIB, fresh=False)
        writer.record(DiskExtent(0, CHUNK), digests_of(chunk))
        writer.flush()
        state.cycles = cycle
        take_recovery_point(state, {"2000": replica}, {"2000": manifest}, {"2000": f"change-{cycle}"}, None)
        prune_recovery_points(state, {"2000": replica}, {"2000": manifest}, keep=2)

    assert [p.cycle for p in state.recovery_points] == [3, 4]
    assert [p.change_ids["2000"] for p in state.recovery_points] == ["change-3", "change-4"]
    kept = {(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"]) if b.snapshot}
    assert kept == {(name, point.blob_snapshots["2000"] if name.endswith(".vhd") else point.manifests["2000"])
                    for point in state.recovery_points for name in (replica.name, manifest.name)}
    oldest = state.recovery_points[0]
    assert replica.reader(oldest.blob_snapshots["2000"]).read(0, 512) == bytes([3]) * 512
    entry = manifest.at(oldest.manifests["2000"]).entries(DiskExtent(0, CHUNK), 4 * MIB)
    assert entry == digests_of(bytes([3]) * CHUNK) and len(entry) == DIGEST_SIZE
