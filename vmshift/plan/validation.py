"""Validating a wave plan before anything runs: every cell typed, every rule checked, every error
with its row, its column and what is allowed. Any error means no plan, so nothing is started.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from vmshift.azure.naming import vm_name_problem
from vmshift.plan.assessment import Assessment, read_assessment
from vmshift.plan.azure_migrate import AtScaleDefaults, read_azure_migrate
from vmshift.plan.checks import PlanChecks, check_rows
from vmshift.plan.columns import (
    COLUMNS,
    COLUMNS_BY_NAME,
    TIME_ALLOWED,
    CellInvalid,
    parse_time,
    vnet_name,
    vnet_subscription,
)
from vmshift.plan.csv_reader import RawRow, normalise_column, read_table, read_vmshift
from vmshift.plan.hooks import HookCatalog, HooksFileInvalid
from vmshift.plan.schema import (
    CutoverWindow,
    DiskPlan,
    Encryption,
    NicSelection,
    OsType,
    PlanError,
    PlanFormat,
    PlanWarning,
    SqlLicense,
    Wave,
    WavePlan,
    WavePlanRow,
)

# A start time this close behind "now" is taken as now: `--start-at now` is read a moment
# before the plan is checked.
START_GRACE = timedelta(minutes=1)


def parse_start_at(text: str, now: datetime | None = None) -> datetime:
    """A `--start-at` option: `now`, `+30m` / `+2h` / `+1d` from now, or an ISO 8601 time with a time zone.

    Relative times belong on the command line, never in the CSV, where a leading `+` is a formula.
    """
    now = now or datetime.now(UTC)
    text = text.strip()
    if text.lower() == "now":
        return now
    relative = re.fullmatch(r"\+(\d{1,6})([smhd])", text)
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return now + timedelta(**{unit: int(relative.group(1))})
    try:
        return parse_time(text)
    except CellInvalid as exc:
        raise ValueError(f"--start-at {exc}; allowed: now, +30m, +2h, +1d, or {TIME_ALLOWED}") from None


class PlanInvalid(Exception):
    """The plan has errors; `errors` lists them all."""

    def __init__(self, errors: Iterable[PlanError]) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(str(error) for error in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        super().__init__(f"the wave plan has {len(self.errors)} error(s): {shown}{more}")


@dataclass(frozen=True)
class PlanValidation:
    """The outcome of `validate_plan`: `plan` is set only when there is no error."""

    rows: int
    errors: tuple[PlanError, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    plan: WavePlan | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.plan is not None

    def raise_for_errors(self) -> WavePlan:
        """The plan, or PlanInvalid naming every error."""
        if self.errors or self.plan is None:
            raise PlanInvalid(self.errors or (PlanError(1, None, "the plan has no VM"),))
        return self.plan

    def text(self) -> str:
        """What `vmshift plan validate` prints for a person: every error and warning, then the verdict."""
        lines = [f"error: {error}" for error in self.errors] + [f"warning: {warning}" for warning in self.warnings]
        if self.plan is None:
            lines.append(f"refused: {len(self.errors)} error(s) in {self.rows} row(s); nothing is started")
        else:
            vms = sum(len(wave.vms) for wave in self.plan.waves)
            lines.append(f"ok: {vms} VM(s) in {len(self.plan.waves)} wave(s)")
            lines += [f"  {wave.name}: {len(wave.vms)} VM(s), starts {wave.start_at.isoformat()}"
                      + (f", cutover window {wave.cutover_window}" if wave.cutover_window else "")
                      for wave in self.plan.waves]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The `vmshift plan validate --json` object."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in self.errors],
            "warnings": [{"row": w.row, "column": w.column, "message": w.message} for w in self.warnings],
            "format": self.plan.source_format.value if self.plan else None,
            "waves": [
                {"name": wave.name, "start_at": wave.start_at.isoformat(), "vms": [vm.source_vm for vm in wave.vms],
                 "fingerprint": wave.fingerprint()}
                for wave in (self.plan.waves if self.plan else ())
            ],
        }


def validate_plan(
    path: Path,
    *,
    fmt: str | None = None,
    checks: PlanChecks | None = None,
    wave: str | None = None,
    start_at: datetime | None = None,
    region: str | None = None,
    cache_storage_account: str | None = None,
    waves_file: Path | None = None,
    assessment: Path | None = None,
    appliance: str | None = None,
    appliances: Mapping[str, Collection[str]] | None = None,
    hooks: HookCatalog | None = None,
    now: datetime | None = None,
) -> PlanValidation:
    """Validate a plan file; never raises for a bad file.

    fmt: "vmshift" or "azure-migrate" (default: told by the header). checks: the online checks
    (None: offline). wave: keep only this wave (in the Azure Migrate format, which has no wave
    column, it also names the wave). start_at: moves the whole schedule so that the first wave
    (or `wave`) starts then; every start time, cutover window and cutover time moves by the same
    amount. region, cache_storage_account: fill empty cells (the Azure Migrate format has neither
    column). waves_file: per-VM values the Azure Migrate format lacks (see docs/wave-plan.md). assessment: an
    assessment CSV whose VM sizes and disk types fill what the plan leaves empty (in the Azure Migrate format: what
    rows with OK_TO_USE_ASSESSMENT=Y ask for). appliance: the appliance validating; a row naming another one is
    refused. appliances: the appliances known (those that ever started against the Prefect server), each with the
    vCenters it serves; a row naming another one, or one that does not serve the row's vCenter, is refused (None:
    not known here). hooks: the hooks the appliance declares (default: its hooks file, HookCatalog.from_env()).
    """
    now = now or datetime.now(UTC)
    table = read_table(Path(path))
    if not table.header:
        return PlanValidation(len(table.records), table.errors)
    try:
        plan_format = PlanFormat(fmt) if fmt else detect_format(table.header)
    except ValueError:
        allowed = ", ".join(member.value for member in PlanFormat)
        return PlanValidation(len(table.records), (PlanError(1, None, f"unknown plan format {fmt!r}; "
                                                                      f"allowed: {allowed}"),))
    warnings: list[PlanWarning] = []
    recommended, errors = read_assessment(Path(assessment)) if assessment else (None, [])
    if plan_format is PlanFormat.VMSHIFT:
        defaults = {"region": region, "cache_storage_account": cache_storage_account}
        raw_rows, read_errors = read_vmshift(table, defaults)
        raw_rows = [_assessed(raw, recommended) for raw in raw_rows] if recommended else raw_rows
    else:
        waves_table = read_table(Path(waves_file)) if waves_file else None
        defaults = AtScaleDefaults(wave=wave, region=region, cache_storage_account=cache_storage_account)
        raw_rows, read_errors, warnings = read_azure_migrate(table, defaults, waves_table,
                                                             Path(waves_file).name if waves_file else "", recommended)
    errors = [*table.errors, *errors, *read_errors]
    parsed = [_parse_row(raw, errors) for raw in raw_rows]
    os_types: dict[int, OsType] = {}
    if checks is not None and parsed:
        os_types, online_errors = check_rows(parsed, checks)
        errors.extend(online_errors)
    waves = _waves(parsed)
    if wave is not None:
        if parsed and wave not in waves:
            errors.append(PlanError(1, "wave", f"no wave named {wave!r}; allowed: {', '.join(waves) or 'none'}"))
        waves = {name: rows for name, rows in waves.items() if name == wave}
    if start_at is not None:
        start_error = _start_at_error(start_at, now)
        if start_error:
            errors.append(start_error)
        else:
            _move_schedule(parsed, [values for rows in waves.values() for values in rows], start_at)
    catalog = _Catalog(hooks)
    for values in parsed:
        values["os_type"] = values["os_type"] or os_types.get(values["row"])
        errors.extend(_row_errors(values, appliance, catalog))
        errors.extend(_appliance_errors(values, appliances))
    errors.extend(_plan_errors(parsed))
    waves = {name: kept for name, rows in waves.items() if (kept := [v for v in rows if not v["left_out"]])}
    errors.extend(_schedule_errors(waves, now))
    if not parsed and not errors:
        errors.append(PlanError(2, None, "the plan has no VM: add a row under the header"))
    elif parsed and not waves and not errors:
        errors.append(PlanError(2, None, "every VM of the plan is left out (see the warnings); nothing to migrate"))
    errors.sort(key=lambda error: (error.row, error.column or ""))
    if errors:
        return PlanValidation(len(table.records), tuple(errors), tuple(warnings))
    built = sorted((_build_wave(name, rows) for name, rows in waves.items()), key=lambda w: (w.start_at, w.name))
    plan = WavePlan(plan_format, tuple(built))
    return PlanValidation(len(table.records), (), tuple(warnings), plan)


def detect_format(header: Iterable[str]) -> PlanFormat:
    """The Azure Migrate at-scale CSV is told by its SOURCE_MACHINE_NAME column."""
    names = {normalise_column(name) for name in header}
    return PlanFormat.AZURE_MIGRATE if "source_machine_name" in names else PlanFormat.VMSHIFT


def _parse_row(raw: RawRow, errors: list[PlanError]) -> dict[str, Any]:
    """Typed values by column; a cell that does not parse is reported and left out (in `invalid`)."""
    values: dict[str, Any] = {"row": raw.row, "labels": raw.labels, "invalid": set(), "left_out": raw.left_out,
                              "assessed_disk_types": raw.assessed.disk_types if raw.assessed else ()}
    for column in COLUMNS:
        text = raw.values.get(column.name)
        values[column.name] = column.default
        if text is None:
            continue
        if not text:
            if column.required:
                errors.append(PlanError(raw.row, raw.label(column.name), f"required; allowed: {column.allowed}"))
                values["invalid"].add(column.name)
            continue
        try:
            values[column.name] = column.parse(text)
        except CellInvalid as exc:
            errors.append(PlanError(raw.row, raw.label(column.name), f"{exc}; allowed: {column.allowed}"))
            values[column.name] = None
            values["invalid"].add(column.name)
    if not values["target_vm_name"] and values["source_vm"] and "target_vm_name" not in values["invalid"]:
        try:
            values["target_vm_name"] = COLUMNS_BY_NAME["target_vm_name"].parse(values["source_vm"])
        except CellInvalid:
            errors.append(PlanError(raw.row, raw.label("target_vm_name"),
                                    f"empty, and the source VM's name {values['source_vm']!r} is not an Azure VM "
                                    f"name; allowed: {COLUMNS_BY_NAME['target_vm_name'].allowed}"))
            values["invalid"].add("target_vm_name")
    return values


def _assessed(raw: RawRow, assessment: Assessment) -> RawRow:
    """vmshift's own format: an assessment fills the VM size and the disk types a row leaves empty."""
    found = assessment.find(raw.values.get("source_vm", ""))
    if found is None:
        return raw
    values, labels = dict(raw.values), dict(raw.labels)
    if not values.get("vm_size") and found.vm_size:
        values["vm_size"], labels["vm_size"] = found.vm_size, f"{found.label}: vm_size"
    if values.get("disk_type"):  # the plan gave every disk its type: nothing is left empty
        found = replace(found, disk_types=())
    return replace(raw, values=values, labels=labels, assessed=found)


class _Catalog:
    """The appliance's hooks, read only when a plan names one (a broken hooks file then says why)."""

    def __init__(self, given: HookCatalog | None) -> None:
        self._catalog = given
        self.problem_reading: str | None = None

    def get(self) -> HookCatalog | None:
        if self._catalog is None and self.problem_reading is None:
            try:
                self._catalog = HookCatalog.from_env()
            except HooksFileInvalid as error:
                self.problem_reading = str(error)
        return self._catalog


def _row_errors(values: dict[str, Any], appliance: str | None, catalog: _Catalog) -> list[PlanError]:
    """The rules between cells of one row."""
    row, labels, invalid = values["row"], values["labels"], values["invalid"]
    errors: list[PlanError] = []

    def error(column: str, message: str) -> None:
        errors.append(PlanError(row, labels.get(column, column), message))

    def given(column: str) -> bool:
        return column not in invalid and values.get(column) not in (None, "", ())

    if given("availability_zone") and given("availability_set"):
        error("availability_set", "not allowed together with availability_zone (Azure places a VM in a zone "
                                  "or in an availability set); allowed: empty, or clear availability_zone")
    encryption = values["encryption"]
    if "encryption" not in invalid and encryption in (Encryption.CUSTOMER, Encryption.DOUBLE):
        if not given("disk_encryption_set") and "disk_encryption_set" not in invalid:
            error("disk_encryption_set", f"required with encryption {encryption}; allowed: a disk encryption "
                                         "set name or resource id")
    elif encryption is Encryption.PLATFORM and given("disk_encryption_set"):
        error("disk_encryption_set", "only used with customer or double encryption; allowed: empty, or set "
                                     "encryption to customer or double")
    if values["hybrid_benefit"] and values["os_type"] is OsType.LINUX:
        error("hybrid_benefit", "Azure Hybrid Benefit for Windows Server is for Windows guests and this one is "
                                "Linux; allowed: no")
    if values["sql_license"] not in (None, SqlLicense.NONE) and values["os_type"] is OsType.LINUX:
        error("sql_license", "the SQL Server VM resource (Microsoft.SqlVirtualMachine) is for Windows guests and this "
                             "one is Linux; allowed: NoLicenseType or empty")
    _network_rules(values, error, given)
    if given("disks") and given("os_disk") and values["os_disk"] not in [n for n, _ in values["disks"]]:
        error("disks", f"the OS disk (disk {values['os_disk']}) is left out; the VM cannot boot without it; "
                       f"allowed: a list that includes {values['os_disk']}")
    if given("disks") and given("disk_names"):
        listed = {number for number, _ in values["disks"]}
        for number, _ in values["disk_names"]:
            if number not in listed:
                error("disk_names", f"disk {number} is named, but disks leaves it out (it is not migrated); "
                                    f"allowed: names of listed disks ({', '.join(map(str, sorted(listed)))})")
    name = values["target_vm_name"]
    if name and values["os_type"] is OsType.WINDOWS and (problem := vm_name_problem(name, "Windows")):
        error("target_vm_name", f"{problem}; allowed: a shorter name")
    if appliance and given("appliance") and values["appliance"].lower() != appliance.lower():
        error("appliance", f"{values['appliance']!r} migrates this VM, and this is appliance {appliance!r}; allowed: "
                           f"{appliance}, or plan the VM on its own appliance")
    for moment, hook in values.get("hooks") or ():
        known = catalog.get()
        problem = catalog.problem_reading or (known.problem(moment, hook) if known else None)
        if problem:
            error("hooks", f"{moment}: {problem}")
    window, cutover_at = values["cutover_window"], values["cutover_at"]
    if window and cutover_at and not window.contains(cutover_at):
        error("cutover_at", f"{cutover_at.isoformat()} is outside the cutover window; allowed: a time from "
                            f"{window.start.isoformat()} to {window.end.isoformat()}")
    if values["start_time"] and cutover_at and cutover_at < values["start_time"]:
        error("cutover_at", "before the wave's start time; allowed: a time after start_time")
    return errors


def _appliance_errors(values: dict[str, Any], appliances: Mapping[str, Collection[str]] | None) -> list[PlanError]:
    """A row naming an appliance that is not known, or that does not serve the row's vCenter."""
    named, vcenter = values.get("appliance"), values.get("vcenter")
    if appliances is None or not named or "appliance" in values["invalid"]:
        return []
    vm, column = values.get("source_vm") or "this VM", values["labels"].get("appliance", "appliance")
    if named not in appliances:
        return [PlanError(values["row"], column, f"{vm} is planned on appliance {named!r}, and no appliance of that "
                                                 "name ever started against the Prefect server; allowed: "
                                                 f"{', '.join(sorted(appliances)) or 'none'}, or empty (any "
                                                 "appliance of its vCenter)")]
    served = appliances[named]
    if vcenter and "vcenter" not in values["invalid"] and vcenter not in served:
        return [PlanError(values["row"], column, f"{vm} is planned on appliance {named!r}, which does not serve its "
                                                 f"vCenter {vcenter} (it serves {', '.join(sorted(served)) or 'none'}"
                                                 f"); allowed: an appliance of {vcenter}, or empty")]
    return []


def _network_rules(values: dict[str, Any], error: Callable[[str, str], None], given: Callable[[str], bool]) -> None:
    """VNets in the VM's subscription, the test network apart from the target's, NICs that can be built."""
    subscription = values.get("target_subscription")
    for column in ("target_vnet", "test_vnet"):
        in_id = vnet_subscription(values[column]) if given(column) else None
        if in_id and subscription and in_id.lower() != subscription.lower():
            error(column, f"the VNet's id is in subscription {in_id}, and the VM lands in {subscription}; allowed: a "
                          "VNet of target_subscription")
    if given("test_vnet") and given("target_vnet") and \
            vnet_name(values["test_vnet"]).lower() == vnet_name(values["target_vnet"]).lower():
        error("test_vnet", "the same as target_vnet: a test migration must not run in the production network; "
                           "allowed: an isolated virtual network")
    if given("test_vnet") and not given("test_subnet") and "test_subnet" not in values["invalid"]:
        error("test_subnet", "required with test_vnet; allowed: a subnet name of test_vnet")
    if given("test_subnet") and not given("test_vnet") and "test_vnet" not in values["invalid"]:
        error("test_vnet", "required with test_subnet; allowed: a virtual network name")
    for nic in values.get("nics") or ():
        if nic.selection is NicSelection.DO_NOT_CREATE and (nic.subnet or nic.ip or nic.test_ip or nic.test_subnet
                                                             or nic.name):
            error("nics", f"NIC {nic.number} is DoNotCreate and still given a subnet, IP or name; allowed: "
                          f"{nic.number}:DoNotCreate alone, or another selection")
        if (nic.test_ip or nic.test_subnet) and not given("test_vnet"):
            error("nics", f"NIC {nic.number} has a test IP or test subnet and the VM has no test_vnet; allowed: a "
                          "test_vnet, or no test settings")


_PLAN_KEYS = ("row", "wave", "source_vm", "target_subscription", "resource_group", "target_vm_name",
              "start_time", "cutover_window", "cutover_at", "application_group", "allow_cutover")


def _plan_errors(parsed: list[dict[str, Any]]) -> list[PlanError]:
    """The rules across rows, on a DataFrame of the parsed plan."""
    if not parsed:
        return []
    labels = {values["row"]: values["labels"] for values in parsed}
    frame = pd.DataFrame([{key: values.get(key) for key in _PLAN_KEYS} for values in parsed])
    errors: list[PlanError] = []

    def error(row: int, column: str, message: str) -> None:
        errors.append(PlanError(row, labels[row].get(column, column), message))

    vms = frame.dropna(subset=["source_vm", "wave"])
    vm_key = vms["source_vm"].str.lower()
    vms, vm_key = vms[vm_key.duplicated(keep=False)], vm_key[vm_key.duplicated(keep=False)]
    for _, group in vms.groupby(vm_key, sort=False):
        first = group.iloc[0]
        for _, later in group.iloc[1:].iterrows():
            if later["wave"] == first["wave"]:
                error(later["row"], "source_vm", f"{later['source_vm']} is listed twice in wave {first['wave']} "
                                                 f"(also row {first['row']}); allowed: each VM once")
            else:
                error(later["row"], "wave", f"{later['source_vm']} is already in wave {first['wave']} (row "
                                            f"{first['row']}); a VM is in one wave only")
    targets = frame.dropna(subset=["target_subscription", "resource_group", "target_vm_name"])
    target_key = (targets["target_subscription"].str.lower() + "/" + targets["resource_group"].str.lower() + "/"
                  + targets["target_vm_name"].str.lower())
    repeated = target_key.duplicated(keep=False)
    for _, group in targets[repeated].groupby(target_key[repeated], sort=False):
        first = group.iloc[0]
        for _, later in group.iloc[1:].iterrows():
            if later["source_vm"] != first["source_vm"]:
                error(later["row"], "target_vm_name", f"{later['target_vm_name']} is already the target of "
                      f"{first['source_vm']} (row {first['row']}) in {first['resource_group']}; allowed: a "
                      "name not used by another VM of the resource group")
    waves = frame.dropna(subset=["wave"])
    for wave, group in waves.groupby("wave", sort=False):
        for column in ("start_time", "cutover_window"):
            given = group.dropna(subset=[column])
            if given.empty:
                continue
            first = given.iloc[0]
            for _, later in given[given[column] != first[column]].iterrows():
                error(later["row"], column, f"wave {wave} already has {column} {_shown(first[column])} (row "
                                            f"{first['row']}); allowed: the same value, or empty")
    grouped = frame.dropna(subset=["application_group", "wave"])
    for group_name, group in grouped.groupby("application_group", sort=False):
        first = group.iloc[0]
        for _, later in group.iloc[1:].iterrows():
            if later["wave"] != first["wave"]:
                error(later["row"], "application_group", f"group {group_name} is in wave {first['wave']} (row "
                      f"{first['row']}); its VMs cut over together, so allowed: wave {first['wave']} only")
            elif later["allow_cutover"] != first["allow_cutover"]:
                error(later["row"], "allow_cutover", f"group {group_name} cuts over together, and row "
                      f"{first['row']} says {'yes' if first['allow_cutover'] else 'no'}; allowed: the same for "
                      "every VM of the group")
        timed = group.dropna(subset=["cutover_at"])
        if not timed.empty:
            at = timed.iloc[0]
            for _, later in timed[timed["cutover_at"] != at["cutover_at"]].iterrows():
                error(later["row"], "cutover_at", f"group {group_name} cuts over together, at "
                      f"{_shown(at['cutover_at'])} (row {at['row']}); allowed: the same time, or empty")
    errors.extend(_ip_errors(parsed))
    errors.extend(_name_errors(parsed))
    return errors


def _ip_errors(parsed: list[dict[str, Any]]) -> list[PlanError]:
    """Two NICs given the same static IP in one network cannot both be created; Azure refuses the second
    (PrivateIPAddressInUse). A network is a VNet of a subscription; a test VNet is a network of its own."""
    errors: list[PlanError] = []
    seen: dict[tuple[str, str, str], int] = {}
    for values in parsed:
        subscription = (values.get("target_subscription") or "").lower()
        for nic in values.get("nics") or ():
            if nic.selection is NicSelection.DO_NOT_CREATE:
                continue
            for network, ip in ((values.get("target_vnet"), nic.ip), (values.get("test_vnet"), nic.test_ip)):
                if not ip or not network:
                    continue
                key = (subscription, vnet_name(network).lower(), ip)
                if key in seen:
                    holder = "this VM" if seen[key] == values["row"] else f"row {seen[key]}"
                    errors.append(PlanError(values["row"], values["labels"].get("nics", "nics"),
                                            f"NIC {nic.number}: static IP {ip} in {vnet_name(network)} is already "
                                            f"given to {holder}; allowed: an IP no other NIC of the plan uses"))
                else:
                    seen[key] = values["row"]
    return errors


def _name_errors(parsed: list[dict[str, Any]]) -> list[PlanError]:
    """Disk and NIC names the plan gives must not collide within a resource group (Azure keeps one of each)."""
    errors: list[PlanError] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for values in parsed:
        group = ((values.get("target_subscription") or "").lower(), (values.get("resource_group") or "").lower())
        named = [("disk_names", "Microsoft.Compute/disks", name) for _, name in values.get("disk_names") or ()]
        named += [("nics", "Microsoft.Network/networkInterfaces", nic.name) for nic in values.get("nics") or ()
                  if nic.name]
        for column, kind, name in named:
            key = (*group, kind, name.lower())
            if key in seen and seen[key] != values["row"]:
                errors.append(PlanError(values["row"], values["labels"].get(column, column),
                                        f"{name!r} is already a name row {seen[key]} gives in resource group "
                                        f"{values.get('resource_group')}; allowed: a name no other VM uses there"))
            seen.setdefault(key, values["row"])
    return errors


def _waves(parsed: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    waves: dict[str, list[dict[str, Any]]] = {}
    for values in parsed:
        if values["wave"]:
            waves.setdefault(values["wave"], []).append(values)
    return waves


def _start_at_error(start_at: datetime, now: datetime) -> PlanError | None:
    if start_at.tzinfo is None:
        return PlanError(1, "start_time", f"--start-at {start_at.isoformat()} has no time zone; allowed: a time "
                                          "with a time zone, or now")
    if start_at < now - START_GRACE:
        return PlanError(1, "start_time", f"--start-at {start_at.isoformat()} is in the past (now is "
                                          f"{now.isoformat(timespec='seconds')}); allowed: now or a later time")
    return None


def _move_schedule(parsed: list[dict[str, Any]], selected: list[dict[str, Any]], start_at: datetime) -> None:
    """Shift every time of the plan so that the earliest selected start becomes `start_at`.

    Rows without a start time (the Azure Migrate format has none) simply start at `start_at`.
    """
    starts = [values["start_time"] for values in selected if values["start_time"]]
    if not starts:
        for values in selected:
            values["start_time"] = start_at
        return
    delta = start_at - min(starts)
    for values in parsed:
        if values["start_time"]:
            values["start_time"] += delta
        if values["cutover_at"]:
            values["cutover_at"] += delta
        window = values["cutover_window"]
        if window:
            values["cutover_window"] = CutoverWindow(window.start + delta, window.end + delta)


def _schedule_errors(waves: dict[str, list[dict[str, Any]]], now: datetime) -> list[PlanError]:
    """Each wave needs a start time, in the future; its cutover window must not be over already."""
    errors: list[PlanError] = []
    for wave, rows in waves.items():
        timed = [values for values in rows if values["start_time"]]
        if not timed and not any("start_time" in v["invalid"] for v in rows):
            first = rows[0]
            errors.append(PlanError(first["row"], first["labels"].get("start_time", "start_time"),
                                    f"wave {wave} has no start time; allowed: an ISO 8601 time with a time zone on "
                                    "one of its rows, or pass --start-at"))
        if timed and timed[0]["start_time"] < now - START_GRACE:
            first = timed[0]
            errors.append(PlanError(first["row"], first["labels"].get("start_time", "start_time"),
                                    f"wave {wave} would start at {first['start_time'].isoformat()}, in the past; "
                                    "allowed: a later time, or pass --start-at now"))
        windowed = [values for values in rows if values["cutover_window"]]
        if windowed and windowed[0]["cutover_window"].end < now:
            first = windowed[0]
            errors.append(PlanError(first["row"], first["labels"].get("cutover_window", "cutover_window"),
                                    "the cutover window is over already; allowed: a window that ends in the future"))
    return errors


def _build_wave(name: str, rows: list[dict[str, Any]]) -> Wave:
    wave_start = next(values["start_time"] for values in rows if values["start_time"])
    window = next((values["cutover_window"] for values in rows if values["cutover_window"]), None)
    vms = tuple(_plan_row(values, wave_start, window) for values in rows)
    return Wave(name, wave_start, vms, window)


def _plan_row(values: dict[str, Any], start: datetime, window: CutoverWindow | None) -> WavePlanRow:
    fields = {column.name: values[column.name] for column in COLUMNS}
    assessed = values["assessed_disk_types"]
    disks = None
    if fields["disks"]:
        # A disk listed without a type takes the assessment's, else disk_type.
        disks = tuple(DiskPlan(number, disk_type or dict(assessed).get(number) or fields["disk_type"],
                               number == fields["os_disk"])
                      for number, disk_type in fields["disks"])
    fields |= {"disks": disks, "start_time": start, "cutover_window": window, "assessed_disk_types": assessed}
    return WavePlanRow(row=values["row"], **fields)


def _shown(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
