"""The columns of vmshift's wave-plan CSV: for each, whether it is required, what it allows,
and how a cell becomes a typed value.

One table serves the reader, the Azure Migrate mapping, the error messages and the docs,
so that what is allowed is said the same way everywhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from vmshift.azure.naming import CHILD_NAME_ALLOWED, VM_NAME_ALLOWED, child_name_problem, vm_name_problem
from vmshift.plan.schema import (
    CutoverWindow,
    DiskType,
    Encryption,
    HookMoment,
    Hooks,
    NicPlan,
    NicSelection,
    OsType,
    SqlLicense,
)

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP);
# tab and carriage return are on OWASP's list too.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Azure's tag limits: 50 tags a resource, key 512 characters, value 256, and these characters
# refused in keys.
MAX_TAGS = 50
MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
TAG_KEY_FORBIDDEN = set("<>%&\\?/")

# Hook names, as the appliance's hooks file declares them (vmshift.plan.hooks).
_HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class CellInvalid(ValueError):
    """A cell's value is not one the column allows; the message says why."""


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    allowed: str
    parse: Callable[[str], Any]
    default: Any = None
    doc: str = ""


def _pattern(regex: str, allowed: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        if not compiled.fullmatch(text):
            raise CellInvalid(f"{shown(text)} is not {allowed}")
        return text

    return parse


def _enum(kind: type[StrEnum]) -> Callable[[str], StrEnum]:
    by_lower = {member.value.lower(): member for member in kind}

    def parse(text: str) -> StrEnum:
        try:
            return by_lower[text.lower()]
        except KeyError:
            raise CellInvalid(f"{shown(text)} is not a known value") from None

    return parse


def enum_allowed(kind: type[StrEnum]) -> str:
    return "one of " + ", ".join(member.value for member in kind)


_TRUE = {"yes", "y", "true"}
_FALSE = {"no", "n", "false"}
BOOLEAN_ALLOWED = "yes or no (also Y/N, true/false)"


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CellInvalid(f"{shown(text)} is not yes or no")


TIME_ALLOWED = "an ISO 8601 time with a time zone, like 2031-03-01T22:00:00Z or 2031-03-01T23:00:00+01:00"


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CellInvalid(f"{shown(text)} is not a time") from None
    if moment.tzinfo is None:
        raise CellInvalid(f"{shown(text)} has no time zone; add Z (UTC) or an offset like +01:00")
    return moment


def parse_window(text: str) -> CutoverWindow:
    start_text, slash, end_text = text.partition("/")
    if not slash:
        raise CellInvalid(f"{shown(text)} is not START/END")
    start, end = parse_time(start_text.strip()), parse_time(end_text.strip())
    if end <= start:
        raise CellInvalid(f"the window ends ({end_text.strip()}) before it starts ({start_text.strip()})")
    return CutoverWindow(start, end)


def parse_zone(text: str) -> str:
    if text not in {"1", "2", "3"}:
        raise CellInvalid(f"{shown(text)} is not an availability zone (1, 2 or 3)")
    return text


def parse_disk_number(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= 256:
        raise CellInvalid(f"{shown(text)} is not a disk number (1 for Hard disk 1, 2 for Hard disk 2...)")
    return int(text)


_parse_disk_type = _enum(DiskType)


def parse_disks(text: str) -> tuple[tuple[int, DiskType | None], ...]:
    """`1:Premium_LRS;2` → ((1, Premium_LRS), (2, None)); a disk without a type takes `disk_type`."""
    disks: list[tuple[int, DiskType | None]] = []
    for entry in _entries(text):
        number_text, _, type_text = entry.partition(":")
        number = parse_disk_number(number_text.strip())
        if any(number == seen for seen, _ in disks):
            raise CellInvalid(f"disk {number} is listed twice")
        disks.append((number, _parse_disk_type(type_text.strip()) if type_text.strip() else None))
    if not disks:
        raise CellInvalid("no disk listed")
    return tuple(disks)


def parse_tags(text: str) -> tuple[tuple[str, str], ...]:
    """`env=prod;owner=team-a` → (("env", "prod"), ("owner", "team-a")), within Azure's tag limits."""
    tags: dict[str, str] = {}
    for entry in _entries(text):
        key, equals, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise CellInvalid(f"{shown(entry)} is not key=value")
        check_tag(key, value)
        if key.lower() in (known.lower() for known in tags):
            raise CellInvalid(f"tag {shown(key)} is given twice (Azure tag names ignore case)")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise CellInvalid(f"{len(tags)} tags; Azure allows at most {MAX_TAGS} on a resource")
    return tuple(tags.items())


def check_tag(key: str, value: str) -> None:
    if len(key) > MAX_TAG_KEY:
        raise CellInvalid(f"tag name {shown(key)} is longer than Azure's {MAX_TAG_KEY} characters")
    if TAG_KEY_FORBIDDEN & set(key):
        raise CellInvalid(f"tag name {shown(key)} contains one of {' '.join(sorted(TAG_KEY_FORBIDDEN))}")
    if len(value) > MAX_TAG_VALUE:
        raise CellInvalid(f"tag value of {shown(key)} is longer than Azure's {MAX_TAG_VALUE} characters")


_parse_selection = _enum(NicSelection)
_SUBNET_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")


def subnet_name_problem(name: str) -> str | None:
    """Why Azure refuses `name` for a subnet (1 to 80 letters, digits, '_', '.', '-'), or None."""
    return None if _SUBNET_RE.fullmatch(name) else f"{shown(name)} is not a subnet name"


NICS_SHAPE = "N:selection[:subnet[:ip[:test_ip[:test_subnet[:name]]]]]"


def parse_nics(text: str) -> tuple[NicPlan, ...]:
    """`1:Primary:snet-app:10.20.1.10:10.30.1.10:snet-app;2:DoNotCreate` → NIC mappings by position.

    Fields after the selection are optional: subnet, static IP, static test IP, test subnet, the NIC's name.
    """
    nics: list[NicPlan] = []
    for entry in _entries(text):
        fields = [part.strip() for part in entry.split(":")]
        if len(fields) < 2 or len(fields) > 7:
            raise CellInvalid(f"{shown(entry)} is not {NICS_SHAPE}")
        fields += [""] * (7 - len(fields))
        if not fields[0].isdecimal() or not 1 <= int(fields[0]) <= 8:
            raise CellInvalid(f"{shown(fields[0])} is not a NIC number (1 for the first source NIC)")
        number = int(fields[0])
        if any(number == nic.number for nic in nics):
            raise CellInvalid(f"NIC {number} is mapped twice")
        subnet, ip, test_ip, test_subnet, name = (value or None for value in fields[2:])
        for subnet_name in (subnet, test_subnet):
            if subnet_name is not None and (problem := subnet_name_problem(subnet_name)):
                raise CellInvalid(problem)
        if name is not None and (problem := child_name_problem(name)):
            raise CellInvalid(f"NIC {number}: {problem}")
        nics.append(NicPlan(number, _parse_selection(fields[1]), subnet, ip and parse_ipv4(ip),
                            test_ip and parse_ipv4(test_ip), test_subnet, name))
    if sum(1 for nic in nics if nic.selection is NicSelection.PRIMARY) > 1:
        raise CellInvalid("more than one NIC is Primary")
    return tuple(nics)


def parse_disk_names(text: str) -> tuple[tuple[int, str], ...]:
    """`1=sql-01-os;2=sql-01-data` → the managed disks' names by disk number."""
    names: dict[int, str] = {}
    for entry in _entries(text):
        number_text, equals, name = (part.strip() for part in entry.partition("="))
        if not equals:
            raise CellInvalid(f"{shown(entry)} is not N=name")
        number = parse_disk_number(number_text)
        if number in names:
            raise CellInvalid(f"disk {number} is named twice")
        if problem := child_name_problem(name):
            raise CellInvalid(f"disk {number}: {problem}")
        if name.lower() in (known.lower() for known in names.values()):
            raise CellInvalid(f"two disks are named {shown(name)}")
        names[number] = name
    if not names:
        raise CellInvalid("no disk named")
    return tuple(sorted(names.items()))


def parse_hooks(text: str) -> Hooks:
    """`pre-cutover=quiesce-sql;post-cutover=notify-cmdb` → hook names per moment, in order.

    Only names: what a hook runs is declared on the appliance (vmshift.plan.hooks), never in a plan."""
    hooks: list[tuple[HookMoment, str]] = []
    for entry in _entries(text):
        moment_text, equals, name = (part.strip() for part in entry.partition("="))
        if not equals or not name:
            raise CellInvalid(f"{shown(entry)} is not moment=hook")
        try:
            moment = HookMoment(moment_text.lower())
        except ValueError:
            raise CellInvalid(f"{shown(moment_text)} is not a moment") from None
        if not _HOOK_NAME.fullmatch(name):
            raise CellInvalid(f"{shown(name)} is not a hook name (a name declared on the appliance, never a command)")
        if (moment, name) in hooks:
            raise CellInvalid(f"hook {name} is given twice at {moment}")
        hooks.append((moment, name))
    if not hooks:
        raise CellInvalid("no hook named")
    return tuple(hooks)


def parse_vm_name(text: str) -> str:
    """The general (Linux, 64-character) rule; the 15 characters of a Windows name are checked once the OS is known."""
    if problem := vm_name_problem(text, "Linux"):
        raise CellInvalid(problem)
    return text


_VNET_ID = re.compile(r"/subscriptions/([0-9a-fA-F-]{36})/resourceGroups/([A-Za-z0-9_.()-]{1,90})/providers/"
                      r"Microsoft\.Network/virtualNetworks/([A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]?)",
                      re.IGNORECASE)
# Azure's VNet names: 2 to 64 letters, digits, '_', '.', '-', starting with a letter or digit, ending in a letter,
# digit or '_'.
_VNET_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?")
VNET_ALLOWED = ("a virtual network name, or its resource id /subscriptions/ID/resourceGroups/RG/providers/"
                "Microsoft.Network/virtualNetworks/NAME")


def parse_vnet(text: str) -> str:
    """A VNet by name (looked up in the target subscription) or by resource id (any resource group of it)."""
    if text.startswith("/"):
        if not _VNET_ID.fullmatch(text):
            raise CellInvalid(f"{shown(text)} is not a virtual network resource id")
        return text
    if not _VNET_NAME.fullmatch(text):
        raise CellInvalid(f"{shown(text)} is not a virtual network name")
    return text


def vnet_subscription(vnet: str) -> str | None:
    """The subscription a VNet resource id names; None for a bare name."""
    match = _VNET_ID.fullmatch(vnet)
    return match.group(1) if match else None


def vnet_name(vnet: str) -> str:
    """The VNet's own name, from a name or a resource id."""
    match = _VNET_ID.fullmatch(vnet)
    return match.group(3) if match else vnet


def parse_ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise CellInvalid(f"{shown(text)} is not an IPv4 address") from None


def _entries(text: str) -> list[str]:
    return [entry.strip() for entry in text.split(";") if entry.strip()]


def clipped(text: str) -> str:
    """Text as a message quotes it: short, so that a 1 MB cell does not flood the report."""
    return text if len(text) <= 60 else text[:57] + "..."


def shown(text: str) -> str:
    return repr(clipped(text))


_NAME_80 = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?"

COLUMNS: tuple[Column, ...] = (
    Column("wave", True, "a name of letters, digits, '.', '_', '-' (up to 63)",
           _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "a wave name"),
           doc="The wave this VM belongs to; a VM is in one wave only."),
    Column("source_vm", True, "a VM name as vCenter shows it or a moref like vm-42 (up to 80 characters)",
           _pattern(r"[^\x00-\x1f\x7f/\\%]{1,80}", "a vSphere VM name"),
           doc="The VM to migrate, by name or managed object id."),
    Column("vcenter", False, "a host name such as vcenter.example.com (empty: the default vCenter)",
           _pattern(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?", "a vCenter host name"),
           doc="The vCenter the VM lives in."),
    Column("target_subscription", True, "a subscription id (GUID)",
           _pattern(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "a GUID"),
           doc="The Azure subscription the VM lands in."),
    Column("region", True, "an Azure region name such as westeurope",
           _pattern(r"[a-z][a-z0-9]{2,39}", "a region name (lower case, no spaces)"),
           doc="The Azure region; fixed once replication starts."),
    Column("resource_group", True, "a resource group name (letters, digits, '_', '-', '.', '(', ')'; up to 90)",
           _pattern(r"[A-Za-z0-9_.()-]{0,89}[A-Za-z0-9_()-]", "a resource group name"),
           doc="The resource group of the target VM, its disks and NICs."),
    Column("target_vm_name", False, f"an Azure VM name: {VM_NAME_ALLOWED} (up to 64; Windows up to 15); "
           "empty: the source VM's name", parse_vm_name,
           doc="The name of the VM in Azure."),
    Column("cache_storage_account", True, "a storage account name (3 to 24 lower-case letters and digits)",
           _pattern(r"[a-z0-9]{3,24}", "a storage account name"),
           doc="Where replicated disks are staged as page blobs; fixed once replication starts."),
    Column("target_vnet", True, VNET_ALLOWED + ", in target_subscription", parse_vnet,
           doc="The VNet of the migrated VM; a name is looked up in target_subscription."),
    Column("target_subnet", True, "a subnet name", _pattern(_NAME_80, "a subnet name"),
           doc="The subnet of the migrated VM's primary NIC."),
    Column("test_vnet", False, VNET_ALLOWED + ", other than target_vnet", parse_vnet,
           doc="The isolated VNet for test migrations; empty: test migration is not possible."),
    Column("test_subnet", False, "a subnet name of test_vnet (required with test_vnet)",
           _pattern(_NAME_80, "a subnet name"),
           doc="The subnet for test migrations."),
    Column("vm_size", False, "an Azure VM size offered in the region, like Standard_D4s_v5",
           _pattern(r"(Standard|Basic)_[A-Za-z0-9_-]{1,60}", "a VM size like Standard_D4s_v5"),
           doc="Empty: chosen from the source VM's CPUs and memory."),
    Column("os_type", False, enum_allowed(OsType) + " (empty: the guest OS vCenter reports)",
           _enum(OsType),
           doc="The guest's OS family; checked against vCenter's guest id."),
    Column("os_disk", False, "a disk number (1 for Hard disk 1); empty: 1", parse_disk_number, default=1,
           doc="The disk the guest boots from; it must be replicated."),
    Column("disk_type", False, enum_allowed(DiskType) + "; empty: Standard_LRS", _enum(DiskType),
           default=DiskType.STANDARD_LRS,
           doc="The managed disk type of every disk that does not name its own."),
    Column("disks", False, "disk numbers with optional types, ';'-separated, like 1:Premium_LRS;2 "
           "(empty: every disk)", parse_disks,
           doc="Which disks to replicate; a disk not listed is left out."),
    Column("availability_zone", False, "1, 2 or 3, offered in the region (not with availability_set)",
           parse_zone, doc="The zone of the VM and its disks."),
    Column("availability_set", False, "an availability set name in resource_group (not with availability_zone)",
           _pattern(_NAME_80, "an availability set name"), doc="The availability set of the VM."),
    Column("encryption", False, enum_allowed(Encryption) + "; empty: platform", _enum(Encryption),
           default=Encryption.PLATFORM,
           doc="platform: Microsoft-managed keys; customer: your key; double: both."),
    Column("disk_encryption_set", False, "a disk encryption set name or resource id (required with customer "
           "or double encryption)", _pattern(r"(/[A-Za-z0-9_.()-]+)+|[A-Za-z0-9_-]{1,80}",
                                             "a disk encryption set name or resource id"),
           doc="The disk encryption set holding the customer key."),
    Column("hybrid_benefit", False, BOOLEAN_ALLOWED + "; yes only for Windows; empty: no", parse_bool,
           default=False, doc="Azure Hybrid Benefit for Windows Server (LicenseType WindowsServer)."),
    Column("sql_license", False, enum_allowed(SqlLicense) + "; Windows only; empty: NoLicenseType", _enum(SqlLicense),
           default=SqlLicense.NONE, doc="SQL Server licence of the VM's SQL Server VM resource "
                                        "(Microsoft.SqlVirtualMachine): PAYG, AHUB (Azure Hybrid Benefit), DR (free "
                                        "disaster-recovery replica); NoLicenseType: no such resource."),
    Column("tags", False, "key=value pairs separated by ';' (Azure's tag limits)", parse_tags, default=(),
           doc="Tags on every resource created for the VM."),
    Column("vm_tags", False, "key=value pairs separated by ';'", parse_tags, default=(),
           doc="Tags on the VM only."),
    Column("disk_tags", False, "key=value pairs separated by ';'", parse_tags, default=(),
           doc="Tags on the managed disks only."),
    Column("nic_tags", False, "key=value pairs separated by ';'", parse_tags, default=(),
           doc="Tags on the NICs only."),
    Column("nics", False, NICS_SHAPE + " separated by ';', selection " + enum_allowed(NicSelection)
           + "; name: " + CHILD_NAME_ALLOWED, parse_nics, default=(),
           doc="NIC mappings by source NIC position: subnet, static target and test IPs, test subnet, name. "
               "Primary first; a NIC not mapped is built in target_subnet with a dynamic IP; DoNotCreate: not built."),
    Column("disk_names", False, "N=name separated by ';', like 1=sql-01-os;2=sql-01-data; name: "
           + CHILD_NAME_ALLOWED, parse_disk_names, default=(),
           doc="Names of the managed disks by disk number; empty: named after the target VM."),
    Column("hooks", False, "moment=hook separated by ';', moment one of " + ", ".join(m.value for m in HookMoment)
           + "; hook: a name declared in the appliance's hooks file", parse_hooks, default=(),
           doc="The VM's own hooks; the plan names them, the appliance's administrator declares what they run."),
    Column("appliance", False, "an appliance name (VMSHIFT_APPLIANCE_NAME); empty: any appliance",
           _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "an appliance name"),
           doc="The appliance that runs this VM's replication and delta cycles (Azure Migrate's "
               "AZMIGRATE_APPLIANCE_NAME): its runs go to that appliance's own queue; it must serve the VM's vCenter."),
    Column("start_time", False, TIME_ALLOWED + ", in the future; one per wave (on at least one of its rows)",
           parse_time,
           doc="When the wave's replication starts; `plan upload --start-at` overrides it."),
    Column("cutover_window", False, "START/END, two ISO 8601 times with a time zone; one per wave",
           parse_window, doc="When cutover of the wave is allowed."),
    Column("cutover_at", False, TIME_ALLOWED + ", inside cutover_window", parse_time,
           doc="This VM's own cutover time (as Forklift's per-VM cutover)."),
    Column("application_group", False, "a name; every VM of a group in the same wave",
           _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "a group name"),
           doc="VMs that cut over together or not at all."),
    Column("turn_off_source", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="Shut the source VM down at cutover (Azure Migrate's TURNOFF_SOURCESERVER); no: it keeps running, "
               "and what its guest writes after the final delta cycle is not migrated."),
    Column("allow_test_migration", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="no: never test-migrated (Azure Migrate's OK_TO_TESTMIGRATE)."),
    Column("allow_cutover", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="no: replicated and test-migrated, never cut over."),
    Column("allow_test_cleanup", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="no: cleanup-test refuses this VM's test migration (Azure Migrate's OK_TO_TESTMIGRATE_CLEANUP)."),
    Column("allow_complete", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="no: complete refuses to stop this VM's replication (Azure Migrate's OK_TO_CLEANUP)."),
    Column("prepare_os", False, BOOLEAN_ALLOWED + "; empty: yes", parse_bool, default=True,
           doc="no: the OS disk is imported as replicated, without OS preparation for Azure "
               "(docs/os-preparation.md): for a guest prepared by hand, or one vmshift does not recognise."),
)

COLUMNS_BY_NAME = {column.name: column for column in COLUMNS}
REQUIRED_COLUMNS = tuple(column.name for column in COLUMNS if column.required)
