"""What the flows show a person: artifact keys and the per-VM outcome rows of their tables and results."""

from __future__ import annotations

import re

from vmshift.state.document import VERIFICATION_FAILED, VERIFICATION_PASSED, CutoverRecord


def artifact_key(kind: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{name}".lower()).strip("-")


def outcome_row(vm: str, outcome: str, *, error: str | None = None, **facts: object) -> dict:
    """One VM's line in a wave's result: `outcome` is protected, failed, blocked, refused, migrated, ..."""
    return {"vm": vm, "outcome": outcome, **facts, "error": error}


def verification_row(vm: str, record: CutoverRecord, bytes_read: int, error: str | None = None) -> dict:
    """One VM's post-cutover verification: bytes proven and seconds over all its runs, this run's reads, and each
    disk with its first differing offset."""
    return outcome_row(
        vm, "verified" if error is None else "failed", error=error, verification=record.verification,
        post_verify_bytes=sum(proof.bytes_read for proof in record.disks.values()),
        post_verify_s=round(sum(proof.seconds for proof in record.disks.values()), 2),
        bytes_read=bytes_read,
        disks=[{"key": proof.key, "managed_disk": proof.managed_disk, "bytes": proof.bytes_read,
                "seconds": proof.seconds, "first_difference": proof.mismatches[0][0] if proof.mismatches else None}
               for proof in record.disks.values()])


def _size(nbytes: int | None) -> str:
    if nbytes is None:
        return ""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


_STEP_BYTES = {"final delta": "changed", "range check": "read back", "staged disks refill": "copied"}


def _verification_lines(row: dict) -> list[str]:
    """The post-cutover verification in words: the result first, then what it read and how long it took."""
    disks = ", ".join(f"disk {d['key']} ({d['managed_disk']}): {_size(d['bytes'])} in {d['seconds']:.1f} s"
                      + (f", DIFFERS at byte {d['first_difference']}" if d["first_difference"] is not None else "")
                      for d in row.get("disks") or [])
    proven = f"{_size(row.get('post_verify_bytes') or 0)} read in {row.get('post_verify_s') or 0} s"
    if row["verification"] == VERIFICATION_PASSED:
        return [f"**Verification after the VM started: passed.** Every migrated disk equals the source: {proven} "
                f"from frozen copies of the disks ({disks})."]
    if row["verification"] == VERIFICATION_FAILED:
        return [f"**Verification after the VM started: FAILED.** The target VM is running on a disk that differs "
                f"from the source ({disks}). It was left running. {row['error']}"]
    return [f"**Verification after the VM started: not finished** ({proven} so far). Run the verify-cutover flow "
            f"for this VM again to finish it; complete-migration waits for it. {row.get('error') or ''}".rstrip()]


def cutover_markdown(wave: str, rows: list[dict]) -> str:
    """The cutover report: a section per VM, narrow enough for the Prefect UI, with where the downtime went and
    the verification that followed."""
    lines = [f"# Cutover of wave {wave}"]
    for row in rows:
        lines += ["", f"## {row['vm']}: {row['outcome']}", ""]
        if row["outcome"] != "migrated":
            lines.append(row["error"] or "")
            continue
        if row.get("steps"):
            lines += ["| downtime step | seconds | bytes |", "| --- | ---: | --- |"]
            lines += [f"| {step['name']} | {step['seconds']:.1f} | "
                      f"{_size(step['bytes'])} {_STEP_BYTES.get(step['name'], '') if step['bytes'] is not None else ''}"
                      .rstrip() + " |" for step in row["steps"]]
            lines += [f"| **downtime** (source shutdown → VM created) | **{row['downtime_s']:.1f}** | |", ""]
            if row.get("staging"):
                staged = row["staging"]
                lines += [f"Before the shutdown, not downtime: {staged['name']}, {_size(staged['bytes'])} in "
                          f"{staged['seconds']:.1f} s.", ""]
        else:
            lines += ["Cut over by an earlier run: this run changed nothing.", ""]
        if "verification" in row:
            lines += [*_verification_lines(row), ""]
        lines.append("Resources: " + ", ".join(f"`{resource.rsplit('/', 1)[-1]}`" for resource in row["resources"]))
        if row["error"] and row.get("verification") != VERIFICATION_FAILED:
            lines += ["", row["error"]]
    return "\n".join(lines)


def verification_markdown(wave: str, rows: list[dict]) -> str:
    """The verify-cutover report: a paragraph per VM."""
    lines = [f"# Post-cutover verification of wave {wave}"]
    for row in rows:
        lines += ["", f"## {row['vm']}", ""]
        lines += _verification_lines(row) if "verification" in row else [row["error"] or ""]
    return "\n".join(lines)
