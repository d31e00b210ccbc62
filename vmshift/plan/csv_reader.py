"""Reading a plan file into rows of cells, refusing what is not a sane CSV with row-level errors.

Nothing here raises for a bad file: an empty file, a binary one, the wrong encoding, a huge
cell or a formula all come back as `PlanError`s, so the user sees a row and a reason, never a
traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vmshift.plan.columns import COLUMNS_BY_NAME, FORMULA_PREFIXES, REQUIRED_COLUMNS, clipped
from vmshift.plan.schema import PlanError

if TYPE_CHECKING:
    from vmshift.plan.assessment import AssessedMachine

# A plan of a few thousand VMs is well under a megabyte; anything this big is a mistake.
MAX_FILE_BYTES = 16 * 1024 * 1024
# Pasted line breaks, tabs and other invisible characters: no column means them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Record:
    """A data row: `row` as the spreadsheet numbers it, cells by header name (stripped)."""

    row: int
    cells: dict[str, str]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...] = ()
    records: tuple[Record, ...] = ()
    errors: tuple[PlanError, ...] = ()


@dataclass(frozen=True)
class RawRow:
    """A row in vmshift's column names, with the column names the user wrote, for messages.

    `assessed`: what an assessment recommends for the VM, when the row asks for it. `left_out`: the column that
    leaves the VM out of the plan (it is still checked), as Azure Migrate's OK_TO_MIGRATE=N does."""

    row: int
    values: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    assessed: AssessedMachine | None = None
    left_out: str | None = None

    def label(self, column: str) -> str:
        return self.labels.get(column, column)


def read_table(path: Path) -> Table:
    """Read a CSV file (UTF-8, comma-separated, header first) into records."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _refused(f"the file is {size} bytes; a plan is at most {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as exc:
        return _refused(f"cannot read {path}: {exc.strerror or exc}")
    return parse_table(data)


def parse_table(data: bytes) -> Table:
    """Parse CSV bytes; see `read_table`."""
    if not data.strip():
        return _refused("the file is empty; the first row must be the header (column names)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _refused("the file is UTF-16 text; save it as 'CSV UTF-8 (comma delimited)'")
    if b"\x00" in data:
        return _refused("the file is binary (it contains NUL bytes), not a CSV text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _refused(
            f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8; save the file as "
            "'CSV UTF-8 (comma delimited)'",
            row=data[: exc.start].count(b"\n") + 1,
        )
    return _parse_text(text)


def _parse_text(text: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    errors: list[PlanError] = []
    row = 0
    try:
        for row, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                rows.append((row, cells))
    except csv.Error as exc:
        errors.append(PlanError(row + 1, None, f"not readable as CSV: {exc}"))
    if not rows:
        return Table(errors=(*errors, PlanError(1, None, "no header row: the file has no column names")))
    header_row, raw_header = rows[0]
    if header_row != 1:
        errors.append(PlanError(1, None, f"row 1 is empty; the header (column names) must be row 1, "
                                         f"found on row {header_row}"))
    header = tuple(name.strip() for name in raw_header)
    if len(header) == 1 and header[0].count(";") >= 2:
        errors.append(PlanError(1, None, "the columns are separated by ';'; separate them by ',' "
                                         "(save as 'CSV UTF-8 (comma delimited)')"))
        return Table(header, (), tuple(errors))
    errors.extend(_cell_errors(1, header, header))
    records = []
    for row, cells in rows[1:]:
        extra = [cell for cell in cells[len(header):] if cell.strip()]
        if extra:
            errors.append(PlanError(row, None, f"{len(cells)} cells but the header has {len(header)} "
                                               "columns; quote cells that contain commas"))
            continue
        cells = [cell.strip() for cell in cells[: len(header)]] + [""] * (len(header) - len(cells))
        errors.extend(_cell_errors(row, header, cells))
        records.append(Record(row, dict(zip(header, cells, strict=True))))
    return Table(header, tuple(records), tuple(errors))


def _cell_errors(row: int, header: tuple[str, ...], cells: list[str] | tuple[str, ...]) -> list[PlanError]:
    """Formulas and control characters, refused in any cell before a column reads it."""
    errors = []
    for name, cell in zip(header, cells, strict=True):
        text, column = cell.lstrip(" "), clipped(name) or None
        control = _CONTROL.search(text)
        if text.startswith(FORMULA_PREFIXES):
            errors.append(PlanError(row, column, f"starts with {text[0]!r}, which a spreadsheet runs as a formula; "
                                                 "remove it (cells may not start with = + - @ or a tab)"))
        elif control:
            errors.append(PlanError(row, column, f"contains the control character {control.group()!r} (a line "
                                                 "break, tab or other invisible character); allowed: printable text"))
    return errors


def _refused(message: str, row: int = 1) -> Table:
    return Table(errors=(PlanError(row, None, message),))


def normalise_column(name: str) -> str:
    """`Source VM` and `source_vm` name the same column."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def read_vmshift(table: Table, defaults: Mapping[str, str] | None = None) -> tuple[list[RawRow], list[PlanError]]:
    """Map vmshift-format records onto its columns; unknown, missing or repeated columns are errors.

    `defaults` (column → value, from command-line options) fill the column's empty cells, and a
    column with a default may be left out of the file.
    """
    defaults = {column: value for column, value in (defaults or {}).items() if value}
    errors: list[PlanError] = []
    names: dict[str, str] = {}
    for label in table.header:
        column = normalise_column(label)
        if not column:
            errors.append(PlanError(1, None, "a column has no name; remove the empty column or name it"))
        elif column in names:
            errors.append(PlanError(1, clipped(label), "the column appears twice; allowed: each column once"))
        elif column not in COLUMNS_BY_NAME:
            errors.append(PlanError(1, clipped(label), f"unknown column; allowed: {', '.join(COLUMNS_BY_NAME)}"))
        else:
            names[column] = label
    errors.extend(
        PlanError(1, column, "required column is missing")
        for column in REQUIRED_COLUMNS
        if column not in names and column not in defaults
    )
    rows = []
    for record in table.records:
        values = {column: record.cells[label] for column, label in names.items()}
        labels = dict(names)
        for column, value in defaults.items():
            if not values.get(column):
                values[column], labels[column] = value, "--" + column.replace("_", "-")
        rows.append(RawRow(record.row, values, labels))
    return rows, errors
