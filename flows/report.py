"""What the flows show a person: artifact keys and the per-VM outcome rows of their tables and results."""

from __future__ import annotations

import re


def artifact_key(kind: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{name}".lower()).strip("-")


def outcome_row(vm: str, outcome: str, *, error: str | None = None, **facts: object) -> dict:
    """One VM's line in a wave's result: `outcome` is protected, failed, blocked, refused, migrated, ..."""
    return {"vm": vm, "outcome": outcome, **facts, "error": error}
