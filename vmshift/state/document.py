"""The per-VM replication state document: what was replicated, where, up to which changeId, and progress."""

from __future__ import annotations

import datetime as dt
import os
import socket

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vmshift.state.lifecycle import Phase, PhaseChange

# 2 added source_shut_down_at. A version 1 document reads as 2; a vmshift that reads only 1 refuses a 2
# instead of saving it without the record, which would leave a source off with no one to start it again.
# 3 added the recovery points' manifests and the chunks a read-back found wrong: saved by a vmshift that reads
# only 2, they would be dropped, leaving manifest snapshots no prune deletes and wrong chunks no cycle rewrites.
# 4 added the history of phase changes, and names the phases as vmshift.state.lifecycle does: the "new" of older
# versions is discovered, and their "migrated", set only once a migration was completed, is completed. Older
# documents read as 4 with an empty history; a vmshift that reads up to 3 refuses a 4, which it would save without
# its history.
# 5 added the cutover record (where the downtime went, the post-cutover verification): a vmshift that reads up
# to 4 refuses a 5, which it would save without it, and a cut-over VM's verification would be forgotten.
SCHEMA_VERSION = 5
_RENAMED_IN_4 = {"new": Phase.DISCOVERED.value, "migrated": Phase.COMPLETED.value}
CLAIM_STALE_AFTER = dt.timedelta(minutes=10)  # a claim from another host without a heartbeat since


class RecoveryPoint(BaseModel):
    """A finished cycle's blob snapshots: a point a test migration or cutover can start from."""

    cycle: int
    created_at: dt.datetime
    source_snapshot_time: dt.datetime | None = None
    blob_snapshots: dict[str, str]  # disk key -> blob snapshot id
    change_ids: dict[str, str]  # disk key -> changeId of the source snapshot's disk
    # disk key -> blob snapshot id of the disk's digest manifest as the cycle left it; empty for a point taken
    # before vmshift kept manifests
    manifests: dict[str, str] = Field(default_factory=dict)


class DiskState(BaseModel):
    key: int
    blob_name: str
    blob_url: str = ""
    capacity_bytes: int
    change_id: str | None = None  # of the last finished cycle; None until the initial cycle finished
    # Which blob change_id and the checkpoints describe (PageBlobReplica.identity): a blob deleted and created
    # again, or another copied over it, has another identity, and a delta into it would leave it incomplete.
    replica_identity: str | None = None
    # Chunks (offset, length) whose replica bytes a read-back found different from what was read from the source:
    # the next cycle writes them again, whatever CBT says.
    rewrite: list[tuple[int, int]] = Field(default_factory=list)


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
    # What ran the cycle (a Prefect flow run's id): a later attempt of that same run, on another appliance after
    # its first one was lost, takes the claim over at once instead of waiting for it to go stale.
    owner: str = ""

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


# The post-cutover verification of the imported disks, as the cutover report and the gates read it.
VERIFICATION_PENDING = "pending"  # the target VM runs; its disks' frozen copies are not proven yet
VERIFICATION_PASSED = "passed"
VERIFICATION_FAILED = "failed"  # a chunk differs: roll back, or cut over again from a resync


class DowntimeStep(BaseModel):
    """One step inside the outage, from the source's shutdown to the target VM created."""

    # shutdown | final delta | range check | (OS preparation) | (staged disks refill) | staged disks | disk import |
    # frozen copies | VM creation
    name: str
    seconds: float
    # the final delta's changed bytes; the range check's bytes read back; the refill's bytes copied
    bytes: int | None = None


class DiskProof(BaseModel):
    """One imported managed disk proven against the manifest of what was imported, through a snapshot of it
    taken after the import and before the VM started (its frozen copy)."""

    key: int
    managed_disk: str
    snapshot: str  # the frozen copy: a managed-disk snapshot's name, in the target resource group
    manifest_blob: str  # the manifest's blob, in the state container (the disk's own, or a prepared copy's)
    manifest: str  # the manifest's blob snapshot id
    proven: DiskCheckpoint = Field(default_factory=DiskCheckpoint)  # what a rerun need not read again
    bytes_read: int = 0
    seconds: float = 0.0
    mismatches: list[tuple[int, int]] = Field(default_factory=list)  # chunks (offset, length) that differ


class CutoverRecord(BaseModel):
    """The last cutover that built a target VM: where its downtime went, and the verification that followed."""

    recovery_point: int
    resource_group: str
    target_vm: str
    target_vm_id: str = ""  # empty until the VM is created
    started_at: dt.datetime
    downtime_s: float = 0.0
    steps: list[DowntimeStep] = Field(default_factory=list)
    source_snapshot: str | None = None  # the final delta's vSphere snapshot, kept for a source left running
    # The disks staged from the latest recovery point before the shutdown: not downtime, shown beside it
    staging: DowntimeStep | None = None
    verification: str = VERIFICATION_PENDING
    disks: dict[str, DiskProof] = Field(default_factory=dict)
    verified_at: dt.datetime | None = None

    @property
    def steps_s(self) -> float:
        return sum(step.seconds for step in self.steps)


class VmState(BaseModel):
    model_config = ConfigDict(validate_assignment=True)  # a phase set as a string is stored as the Phase it names

    schema_version: int = SCHEMA_VERSION
    vm: str
    phase: Phase = Phase.DISCOVERED  # moved only by vmshift.state.lifecycle.advance
    cycles: int = 0
    disks: dict[str, DiskState] = Field(default_factory=dict)
    in_progress: CycleInProgress | None = None
    last_cycle: LastCycle | None = None
    recovery_points: list[RecoveryPoint] = Field(default_factory=list)
    error: str | None = None
    # Set before vmshift shuts the source down for a cutover, cleared once the target VM exists or the source
    # runs again: a cutover that fails or is refused later, even after a kill, starts the source again.
    source_shut_down_at: dt.datetime | None = None
    cutover: CutoverRecord | None = None
    history: list[PhaseChange] = Field(default_factory=list)  # oldest first
    # The disks (vSphere keys) the plan migrates; None: every disk. A disk left out is never read nor sent.
    included_disks: list[int] | None = None
    # The appliance the plan's row names (its `appliance` column), kept by the VM's replication for its delta
    # cycles: a dispatched cycle goes to that appliance's own queue. None: any appliance of its vCenter.
    appliance: str | None = None
    vcenter: str | None = None  # the plan's `vcenter` cell: the vCenter its delta cycles read (None: the default)

    @model_validator(mode="before")
    @classmethod
    def _rename_phases_before_4(cls, document: object) -> object:
        if isinstance(document, dict) and isinstance(document.get("schema_version"), int) \
                and document["schema_version"] < 4 and document.get("phase") in _RENAMED_IN_4:
            return {**document, "phase": _RENAMED_IN_4[document["phase"]]}
        return document

    def replicates(self, key: int) -> bool:
        return self.included_disks is None or key in self.included_disks

    @field_validator("schema_version")
    @classmethod
    def _read_as_current(cls, version: int) -> int:
        """Older documents lack only optional fields, so they are read (and saved) at this version."""
        return max(version, SCHEMA_VERSION)
