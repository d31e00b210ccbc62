"""The example plan, changed cell by cell, validated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from plan_helpers import NOW, example_rows, write_rows

from vmshift.plan import PlanValidation, validate_plan


@pytest.fixture
def validate_example(tmp_path: Path) -> Callable[..., PlanValidation]:
    """Validate examples/waves.csv with some cells changed: {spreadsheet row: {column: value}}."""

    def validate(changes: dict[int, dict[str, str]] | None = None, **options) -> PlanValidation:
        rows = example_rows()
        for row, cells in (changes or {}).items():
            rows[row - 2].update(cells)
        options.setdefault("now", NOW)
        return validate_plan(write_rows(tmp_path / "plan.csv", rows), **options)

    return validate
