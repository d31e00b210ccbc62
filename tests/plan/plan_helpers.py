"""Plans written the way a migration engineer would write them: the example, changed cell by cell."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from vmshift.plan import PlanValidation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Before the example's 2031 start times, so that they are in the future.
NOW = datetime(2030, 6, 1, tzinfo=UTC)


def example_rows(name: str | Path = "waves.csv") -> list[dict[str, str]]:
    """The rows of an example (a name in examples/) or of any plan file (a path)."""
    with (name if isinstance(name, Path) else EXAMPLES / name).open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_rows(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def errors_at(result: PlanValidation) -> set[tuple[int, str | None]]:
    return {(error.row, error.column) for error in result.errors}
