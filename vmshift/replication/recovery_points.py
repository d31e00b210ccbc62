"""Recovery points: a blob snapshot of every replica and of its manifest after each finished cycle, the last N
kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from vmshift.replication.manifest import Manifest
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.state.document import RecoveryPoint, VmState


def take_recovery_point(
    state: VmState,
    replicas: Mapping[str, PageBlobReplica],
    manifests: Mapping[str, Manifest],
    change_ids: Mapping[str, str],
    source_snapshot_time: dt.datetime | None,
) -> RecoveryPoint:
    """Snapshot each disk's replica and its manifest and record the point in the state (not saved here)."""
    snapshots = {
        key: replica.snapshot({"vmshift_cycle": str(state.cycles), "vmshift_change_id": change_ids[key]})
        for key, replica in replicas.items()
    }
    point = RecoveryPoint(
        cycle=state.cycles,
        created_at=dt.datetime.now(dt.UTC),
        source_snapshot_time=source_snapshot_time,
        blob_snapshots=snapshots,
        change_ids=dict(change_ids),
        manifests={key: manifest.snapshot() for key, manifest in manifests.items()},
    )
    state.recovery_points.append(point)
    return point


def prune_recovery_points(
    state: VmState, replicas: Mapping[str, PageBlobReplica], manifests: Mapping[str, Manifest], keep: int
) -> list[RecoveryPoint]:
    """Delete the blob snapshots (replicas and manifests) of all but the last `keep` recovery points; returns the
    ones removed."""
    if keep < 1:
        raise ValueError(f"keep at least one recovery point, not {keep}")
    old, state.recovery_points = state.recovery_points[:-keep], state.recovery_points[-keep:]
    for point in old:
        for key, snapshot_id in point.blob_snapshots.items():
            if key in replicas:
                replicas[key].delete_snapshot(snapshot_id)
        for key, snapshot_id in point.manifests.items():
            if key in manifests:
                manifests[key].delete_snapshot(snapshot_id)
    return old
