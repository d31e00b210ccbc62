"""The per-VM replication state document: what was replicated, where, up to which changeId, and progress."""

from __future__ import annotations

import datetime as dt
import os
import socket

from pydantic import BaseModel, Field, field_validator

# 2 added source_shut_down_at. A version 1 document reads as 2; a vmshift that reads only 1 refuses a 2
# instead of saving it without the record, which would leave a source off with no one to start it again.
SCHEMA_VERSION = 2
CLAIM_STALE_AFTER = dt.timedelta(minutes=10)  # a claim from another host without a heartbeat since


class RecoveryPoint(BaseModel):
    """A finished cycle's blob snapshots: a point a test migration or cutover can start from."""

    cycle: int
    created_at: dt.datetime
    source_snapshot_time: dt.datetime | None = None
    blob_snapshots: dict[str, str]  # disk key -> blob snapshot id
    change_ids: dict[str, str]  # disk key -> changeId of the source snapshot's disk


class DiskState(BaseModel):
    key: int
    blob_name: str
    blob_url: str = ""
    capacity_bytes: int
    change_id: str | None = None  # of the last finished cycle; None until the initial cycle finished
    # Which blob change_id and the checkpoints describe (PageBlobReplica.identity): a blob deleted and created
    # again, or another copied over it, has another identity, and a delta into it would leave it incomplete.
    replica_identity: str | None = None


class DiskCheckpoint(BaseModel):
    """Progress through one disk's planned writes: every write ending at or before resume_offset is done,
    and so are the out-of-order ones listed in done_beyond."""

    resume_offset: int = 0
    done_beyond: list[tuple[int, int]] = Field(default_factory=list)
    finished: bool = False


class Claim(BaseModel):
    """Who runs the cycle in progress, so that a second run on the same VM stops instead of interfering."""

    run_id: str
    host: str
    pid: int
    heartbeat_at: dt.datetime

    def is_live(self) -> bool:
        """Its process still runs (same host), or its heartbeat is recent (another host)."""
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:  # alive, under another user
                return True
            return True
        return dt.datetime.now(dt.UTC) - self.heartbeat_at < CLAIM_STALE_AFTER


class CycleInProgress(BaseModel):
    cycle: int
    kind: str  # initial | delta | resync
    started_at: dt.datetime
    claim: Claim | None = None  # None once the run that held it has stopped
    snapshot_change_ids: dict[str, str] = Field(default_factory=dict)  # of the cycle's source snapshot
    checkpoints: dict[str, DiskCheckpoint] = Field(default_factory=dict)
    bytes_sent: int = 0
    changed_bytes: int = 0
    percent_done: float = 0.0  # of this run's planned writes, each disk weighted by its capacity


class LastCycle(BaseModel):
    cycle: int
    kind: str
    finished_at: dt.datetime
    seconds: float
    bytes_sent: int
    changed_bytes: int


class VmState(BaseModel):
    schema_version: int = SCHEMA_VERSION
    vm: str
    phase: str = "new"  # new | replicating | protected | failed | stopped (on request) | migrated
    cycles: int = 0
    disks: dict[str, DiskState] = Field(default_factory=dict)
    in_progress: CycleInProgress | None = None
    last_cycle: LastCycle | None = None
    recovery_points: list[RecoveryPoint] = Field(default_factory=list)
    error: str | None = None
    # Set before vmshift shuts the source down for a cutover, cleared once the target VM exists or the source
    # runs again: a cutover that fails or is refused later, even after a kill, starts the source again.
    source_shut_down_at: dt.datetime | None = None

    @field_validator("schema_version")
    @classmethod
    def _read_as_current(cls, version: int) -> int:
        """Older documents lack only optional fields, so they are read (and saved) at this version."""
        return max(version, SCHEMA_VERSION)
