"""The wave plan as data: what a validated CSV row becomes, grouped into waves.

Everything here is frozen: a plan is checked once, then only read by the flows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum


class PlanFormat(StrEnum):
    """The CSV dialects vmshift reads."""

    VMSHIFT = "vmshift"
    AZURE_MIGRATE = "azure-migrate"


class DiskType(StrEnum):
    """Managed disk SKUs a migrated disk can land on (the ones an OS disk may use too)."""

    STANDARD_LRS = "Standard_LRS"
    STANDARD_SSD_LRS = "StandardSSD_LRS"
    STANDARD_SSD_ZRS = "StandardSSD_ZRS"
    PREMIUM_LRS = "Premium_LRS"
    PREMIUM_ZRS = "Premium_ZRS"


class Encryption(StrEnum):
    """Disk encryption at rest; `customer` and `double` need a disk encryption set."""

    PLATFORM = "platform"
    CUSTOMER = "customer"
    DOUBLE = "double"

    @property
    def azure_type(self) -> str:
        """The value of the managed disk's `encryption.type`."""
        return {
            Encryption.PLATFORM: "EncryptionAtRestWithPlatformKey",
            Encryption.CUSTOMER: "EncryptionAtRestWithCustomerKey",
            Encryption.DOUBLE: "EncryptionAtRestWithPlatformAndCustomerKeys",
        }[self]


class OsType(StrEnum):
    WINDOWS = "windows"
    LINUX = "linux"


class SqlLicense(StrEnum):
    """SQL Server licence on the target VM, as Azure Migrate's SqlServerLicenseType."""

    PAYG = "PAYG"
    AHUB = "AHUB"
    NONE = "NoLicenseType"


class NicSelection(StrEnum):
    """What becomes of a source NIC on the target, as Azure Migrate's TargetNicSelectionType."""

    PRIMARY = "Primary"
    SECONDARY = "Secondary"
    DO_NOT_CREATE = "DoNotCreate"


@dataclass(frozen=True)
class PlanError:
    """One reason the plan is refused; `row` counts as a spreadsheet does (header = row 1)."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class PlanWarning:
    """Something the plan asks for that vmshift does not do; the plan still runs."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row else []
        where += [f"column {self.column}"] if self.column else []
        return f"{', '.join(where) or 'plan'}: {self.message}"


@dataclass(frozen=True)
class DiskPlan:
    """A source disk to replicate, by its number in vSphere ("Hard disk N")."""

    number: int
    disk_type: DiskType
    is_os: bool


@dataclass(frozen=True)
class NicPlan:
    """Where a source NIC (by position) lands; static IPs are optional."""

    number: int
    selection: NicSelection
    subnet: str | None = None
    ip: str | None = None
    test_ip: str | None = None
    test_subnet: str | None = None


@dataclass(frozen=True)
class CutoverWindow:
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class WavePlanRow:
    """One VM of the plan, after validation: every value typed, defaults applied."""

    row: int
    wave: str
    source_vm: str
    vcenter: str | None
    target_subscription: str
    region: str
    resource_group: str
    target_vm_name: str
    cache_storage_account: str
    target_vnet: str
    target_subnet: str
    test_vnet: str | None
    test_subnet: str | None
    vm_size: str | None
    os_type: OsType | None
    os_disk: int
    disk_type: DiskType
    # None: every disk of the VM, each of `disk_type`; a tuple: only these disks.
    disks: tuple[DiskPlan, ...] | None
    availability_zone: str | None
    availability_set: str | None
    encryption: Encryption
    disk_encryption_set: str | None
    hybrid_benefit: bool
    sql_license: SqlLicense
    tags: Tags = ()
    vm_tags: Tags = ()
    disk_tags: Tags = ()
    nic_tags: Tags = ()
    nics: tuple[NicPlan, ...] = ()
    start_time: datetime | None = None
    cutover_window: CutoverWindow | None = None
    cutover_at: datetime | None = None
    application_group: str | None = None
    turn_off_source: bool = True
    allow_test_migration: bool = True
    allow_cutover: bool = True

    def resource_tags(self, kind: str) -> dict[str, str]:
        """Tags for a target resource of `kind` ("vm", "disk", "nic"): the common tags, then its own."""
        own = {"vm": self.vm_tags, "disk": self.disk_tags, "nic": self.nic_tags}[kind]
        return dict(self.tags) | dict(own)


@dataclass(frozen=True)
class Wave:
    """VMs that replicate from the same start time; cutover happens inside its window."""

    name: str
    start_at: datetime
    vms: tuple[WavePlanRow, ...]
    cutover_window: CutoverWindow | None = None

    def fingerprint(self) -> str:
        """A digest of what the wave asks for, for idempotent scheduling: the same wave uploaded twice
        gives the same key. Row numbers and row order do not count; times do (a moved wave is new)."""
        content = _jsonable(asdict(self))
        vms = [{key: value for key, value in vm.items() if key != "row"} for vm in content["vms"]]
        content["vms"] = sorted(vms, key=lambda vm: vm["source_vm"].lower())
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def application_groups(self) -> dict[str, tuple[str, ...]]:
        """Source VMs that must cut over together, by group name."""
        groups: dict[str, list[str]] = {}
        for vm in self.vms:
            if vm.application_group:
                groups.setdefault(vm.application_group, []).append(vm.source_vm)
        return {name: tuple(members) for name, members in groups.items()}


@dataclass(frozen=True)
class WavePlan:
    """Waves in start order; what `plan upload` schedules."""

    source_format: PlanFormat
    waves: tuple[Wave, ...] = field(default_factory=tuple)

    def wave(self, name: str) -> Wave:
        for wave in self.waves:
            if wave.name == name:
                return wave
        raise KeyError(f"no wave {name!r} in the plan; waves: {', '.join(w.name for w in self.waves)}")


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value
