"""The wave plan as data: what a validated CSV row becomes, grouped into waves.

Everything here is frozen: a plan is checked once, then only read by the flows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
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
    """SQL Server licence on the target VM: Microsoft.SqlVirtualMachine's sqlServerLicenseType (PAYG, AHUB for
    Azure Hybrid Benefit, DR for a free disaster-recovery replica), or no SQL Server VM resource at all."""

    PAYG = "PAYG"
    AHUB = "AHUB"
    DR = "DR"
    NONE = "NoLicenseType"


class HookMoment(StrEnum):
    """When a VM's hooks run; a plan names hooks per moment, the appliance declares what they are."""

    PRE_TEST_MIGRATION = "pre-test-migration"
    POST_TEST_MIGRATION = "post-test-migration"
    PRE_CUTOVER = "pre-cutover"
    POST_CUTOVER = "post-cutover"


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
    """Where a source NIC (by position) lands; static IPs are optional, and so is the NIC's own name."""

    number: int
    selection: NicSelection
    subnet: str | None = None
    ip: str | None = None
    test_ip: str | None = None
    test_subnet: str | None = None
    name: str | None = None


class NicsNotBuildable(ValueError):
    """The plan's NIC mappings do not fit the source VM's NICs; the message says which."""


@dataclass(frozen=True)
class CutoverWindow:
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


Tags = tuple[tuple[str, str], ...]
Hooks = tuple[tuple[HookMoment, str], ...]
DiskTypes = tuple[tuple[int, DiskType], ...]


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
    # Managed disk names by disk number; a disk not named here is named after the target VM.
    disk_names: tuple[tuple[int, str], ...] = ()
    hooks: Hooks = ()
    appliance: str | None = None
    start_time: datetime | None = None
    cutover_window: CutoverWindow | None = None
    cutover_at: datetime | None = None
    application_group: str | None = None
    turn_off_source: bool = True
    allow_test_migration: bool = True
    allow_cutover: bool = True
    allow_test_cleanup: bool = True
    allow_complete: bool = True
    prepare_os: bool = True  # the OS disk prepared for Azure at test migration and cutover
    # Disk types an assessment recommends, for the disks the plan gives no type of its own.
    assessed_disk_types: DiskTypes = ()

    def disk_type_of(self, number: int) -> DiskType:
        """The managed disk type of disk `number`: its own in `disks`, else the assessment's, else `disk_type`."""
        listed = {disk.number: disk.disk_type for disk in self.disks or ()}
        return listed.get(number) or dict(self.assessed_disk_types).get(number) or self.disk_type

    def nics_to_build(self, source_nics: int) -> tuple[NicPlan, ...]:
        """The NICs the target VM gets, primary first, then by source position: each source NIC (1 to
        `source_nics`) as `nics` maps it, one it does not map in target_subnet with a dynamic IP (as Azure
        Migrate selects every NIC), none that is DoNotCreate. The primary is the one mapped Primary, else the
        first built. Subnets are filled in: a NIC's own, else target_subnet (test: test_subnet)."""
        mapped = {nic.number: nic for nic in self.nics}
        beyond = sorted(number for number in mapped if number > source_nics)
        if beyond:
            raise NicsNotBuildable(f"{self.source_vm} has {source_nics} NIC(s) and the plan maps NIC {beyond[0]}; "
                                   f"map NICs 1 to {source_nics}")
        built = []
        for number in range(1, source_nics + 1):
            nic = mapped.get(number) or NicPlan(number, NicSelection.SECONDARY)
            if nic.selection is not NicSelection.DO_NOT_CREATE:
                built.append(replace(nic, subnet=nic.subnet or self.target_subnet,
                                     test_subnet=nic.test_subnet or self.test_subnet))
        if not built:
            raise NicsNotBuildable(f"{self.source_vm}: every NIC is DoNotCreate, and a VM needs one")
        primary = next((nic for nic in built if nic.selection is NicSelection.PRIMARY), built[0])
        return (replace(primary, selection=NicSelection.PRIMARY),
                *(replace(nic, selection=NicSelection.SECONDARY) for nic in built if nic is not primary))

    def hooks_at(self, moment: HookMoment) -> tuple[str, ...]:
        """The names of the hooks to run at `moment`, in the plan's order."""
        return tuple(name for when, name in self.hooks if when is moment)

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

    def scheduled_cutovers(self) -> tuple[tuple[str, tuple[str, ...], datetime], ...]:
        """(unit, source VMs, time) of each cutover the plan times: an application group whose VMs give a
        cutover_at cuts over whole at it; a VM outside groups at its own."""
        groups = self.application_groups()
        cutovers: dict[str, tuple[tuple[str, ...], datetime]] = {}
        for vm in self.vms:
            if vm.cutover_at is None:
                continue
            if vm.application_group:
                cutovers.setdefault(f"group-{vm.application_group}", (groups[vm.application_group], vm.cutover_at))
            else:
                cutovers[f"vm-{vm.source_vm}"] = ((vm.source_vm,), vm.cutover_at)
        return tuple((unit, vms, at) for unit, (vms, at) in cutovers.items())

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
