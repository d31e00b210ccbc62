"""Migration settings from an assessment: the VM size and the disk type per disk it recommends.

Azure Migrate's portal "imports migration settings from an assessment" straight from the assessment; its
Excel export's sheet and column names are not published by Microsoft (third-party scripts show several
spellings), so vmshift reads a small documented CSV instead, one row per machine:

    machine,vm_size,disk_types,assessment,group
    win-sql-01,Standard_D4s_v5,1:Premium_LRS;2:StandardSSD_LRS,assessment-wave1,group-sql

`disk_types` gives a type per disk number (1 for Hard disk 1). `assessment` and `group` are optional: they let
an at-scale Input.csv pick rows by AZMIGRATEASSESSMENT_NAME and AZMIGRATEGROUP_NAME, as its scripts do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmshift.plan.columns import COLUMNS_BY_NAME, CellInvalid, clipped, enum_allowed, parse_disks, shown
from vmshift.plan.csv_reader import normalise_column, read_table
from vmshift.plan.schema import DiskType, DiskTypes, PlanError

ASSESSMENT_COLUMNS = ("machine", "vm_size", "disk_types", "assessment", "group")
DISK_TYPES_ALLOWED = "disk numbers with their types, ';'-separated, like 1:Premium_LRS;2:StandardSSD_LRS; types: " \
                     + enum_allowed(DiskType)


@dataclass(frozen=True)
class AssessedMachine:
    """What an assessment recommends for one machine; `label` names its row for messages."""

    machine: str
    vm_size: str | None
    disk_types: DiskTypes
    assessment: str | None = None
    group: str | None = None
    label: str = ""


@dataclass(frozen=True)
class Assessment:
    machines: tuple[AssessedMachine, ...] = ()
    name: str = "assessment"

    def find(self, machine: str, assessment: str | None = None, group: str | None = None) -> AssessedMachine | None:
        """The machine's recommendation; with names, only from that assessment and group (matched without case)."""
        for entry in self.machines:
            if entry.machine.lower() != machine.lower():
                continue
            if assessment and (entry.assessment or "").lower() != assessment.lower():
                continue
            if group and (entry.group or "").lower() != group.lower():
                continue
            return entry
        return None


def read_assessment(path: Path) -> tuple[Assessment, list[PlanError]]:
    """The assessment CSV, with errors naming the file, row and column (`assessment.csv:vm_size`)."""
    table = read_table(path)
    name = path.name
    errors = [PlanError(e.row, f"{name}:{e.column}" if e.column else name, e.message) for e in table.errors]
    labels = {normalise_column(label): label for label in table.header}
    for column, label in labels.items():
        if column not in ASSESSMENT_COLUMNS:
            errors.append(PlanError(1, f"{name}:{clipped(label)}", f"not an assessment column; allowed: "
                                                                   f"{', '.join(ASSESSMENT_COLUMNS)}"))
    if table.header and "machine" not in labels:
        errors.append(PlanError(1, f"{name}:machine", "required column is missing"))
    if "machine" not in labels:
        return Assessment(name=name), errors
    machines: list[AssessedMachine] = []
    seen: dict[tuple[str, str, str], int] = {}
    size_column = COLUMNS_BY_NAME["vm_size"]
    for record in table.records:
        cells = {column: record.cells[label] for column, label in labels.items() if column in ASSESSMENT_COLUMNS}

        def error(column: str, message: str, row: int = record.row) -> None:
            errors.append(PlanError(row, f"{name}:{column}", message))

        machine = cells["machine"]
        if not machine:
            error("machine", "required; allowed: the machine's name as the plan's source VM gives it")
            continue
        size = cells.get("vm_size") or None
        if size:
            try:
                size_column.parse(size)
            except CellInvalid as exc:
                error("vm_size", f"{exc}; allowed: {size_column.allowed}")
        disk_types: DiskTypes = ()
        if cells.get("disk_types"):
            try:
                parsed = parse_disks(cells["disk_types"])
            except CellInvalid as exc:
                error("disk_types", f"{exc}; allowed: {DISK_TYPES_ALLOWED}")
                parsed = ()
            untyped = [number for number, disk_type in parsed if disk_type is None]
            if untyped:
                error("disk_types", f"disk {untyped[0]} has no type; allowed: {DISK_TYPES_ALLOWED}")
            disk_types = tuple((number, disk_type) for number, disk_type in parsed if disk_type is not None)
        key = (machine.lower(), cells.get("assessment", "").lower(), cells.get("group", "").lower())
        if key in seen:
            error("machine", f"{shown(machine)} is already recommended for on row {seen[key]} (same assessment and "
                             "group); allowed: each machine once per assessment")
            continue
        seen[key] = record.row
        machines.append(AssessedMachine(machine, size, disk_types, cells.get("assessment") or None,
                                        cells.get("group") or None, f"{name} row {record.row}"))
    return Assessment(tuple(machines), name), errors
