"""The OS disk a test migration or a cutover imports: the prepared copy of the same recovery point
(vmshift/preparation), unless the plan turns preparation off for the VM (`prepare_os=no`). The data disks are
imported from the recovery point as they are. See docs/os-preparation.md."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from vmshift.azure.vms import TargetVmSpec
from vmshift.migration.source import FrozenDisk
from vmshift.plan.schema import WavePlanRow
from vmshift.preparation.changes import Change
from vmshift.preparation.errors import PreparationFailed
from vmshift.preparation.prepare import Preparation, prepare_once
from vmshift.replication.manifest import Manifest
from vmshift.replication.settings import ReplicationSettings, open_clients

SNAPSHOT_QUERY = "?snapshot="  # as vmshift.azure.disks.snapshot_uri writes a recovery point's URI


@dataclass(frozen=True)
class PreparedTarget:
    spec: TargetVmSpec  # the OS disk's source is the prepared copy when `preparation` is set
    preparation: Preparation | None  # None: the plan turns preparation off for the VM


def prepare_target(vm: WavePlanRow, spec: TargetVmSpec) -> PreparedTarget:
    """The spec with its OS disk imported from the prepared copy of the recovery point the spec names (done once
    per recovery point: a retried step reuses it). Raises UnrecognisedOs or RuleFailed before anything is created
    in Azure; the replica and its snapshot are only read."""
    if not vm.prepare_os:
        return PreparedTarget(spec, None)
    os_disk = next((disk for disk in spec.disks if disk.key == spec.os_disk_key), None)
    if os_disk is None:  # the build refuses it, naming the VM and its os_disk
        return PreparedTarget(spec, None)
    preparation = prepare_os_disk(vm.source_vm, vm.cache_storage_account, os_disk.key, os_disk.source_uri)
    disks = tuple(replace(disk, source_uri=preparation.prepared_blob) if disk.key == os_disk.key else disk
                  for disk in spec.disks)
    return PreparedTarget(replace(spec, disks=disks), preparation)


def prepare_os_disk(
    vm: str, cache_account: str, key: int, recovery_point_uri: str, manifest: Manifest | None = None
) -> Preparation:
    """The OS disk `key` of the recovery point at `recovery_point_uri` (a blob snapshot of the VM's replica, as
    the import reads it) prepared once, with a manifest of the prepared copy when the recovery point's is given."""
    replica_url, _, snapshot_id = recovery_point_uri.partition(SNAPSHOT_QUERY)
    settings = ReplicationSettings.from_env(cache_account)
    replica = open_clients(settings).replica(vm, str(key))
    if not snapshot_id or replica.url != replica_url:
        raise PreparationFailed(f"VM {vm}: its OS disk {key} is to be built from {recovery_point_uri}, which is "
                                f"not a recovery point of its replica {replica.url}")
    return prepare_once(replica, snapshot_id, vm, mover=settings.mover, manifest=manifest)


def prepare_final_os_disk(vm: str, cache_account: str, final: FrozenDisk) -> tuple[FrozenDisk, Preparation]:
    """The final delta's OS disk prepared during a cutover's outage: the disk the import reads and the verification
    proves instead (the prepared copy, and its manifest), and what the preparation changed."""
    disk_manifest = open_clients(ReplicationSettings.from_env(cache_account)).manifest(vm, str(final.key))
    manifest = Manifest(disk_manifest.container, final.manifest_blob, disk_manifest.owner, final.manifest_snapshot)
    preparation = prepare_os_disk(vm, cache_account, final.key, final.source_uri, manifest)
    assert preparation.manifest_blob is not None and preparation.manifest_snapshot is not None  # asked for
    return FrozenDisk(final.key, preparation.prepared_blob, preparation.manifest_blob,
                      preparation.manifest_snapshot), preparation


def preparation_summary(preparation: Preparation | None) -> dict | None:
    """What a flow's result row says of a preparation (the report shows each change in full)."""
    if preparation is None:
        return None
    return {"os": preparation.os.product, "rules": preparation.rules, "skipped_rules": preparation.skipped_rules,
            "changes": [[c.rule, c.path, c.setting] for c in preparation.changes],
            "findings": [f"{f.rule}: {f.message}" for f in preparation.findings],
            "prepared_blob": preparation.prepared_blob, "seconds": preparation.seconds}


def preparation_report(vm: str, preparation: Preparation | None) -> list[str]:
    """A VM's preparation as Markdown lines for a test-migration or cutover report: each change with its rule,
    file and what it was before and after (only the lines that changed, for a text file)."""
    if preparation is None:
        return [f"### {vm}", "", "OS preparation turned off by the plan (`prepare_os=no`): the OS disk was "
                "imported as replicated.", ""]
    lines = [f"### {vm}", "",
             f"{preparation.os.product} ({preparation.os.distro} {preparation.os.major}.{preparation.os.minor}), "
             f"disk {preparation.disk}, recovery point {preparation.recovery_point}, prepared in "
             f"{preparation.seconds:.0f} s into `{preparation.prepared_blob}`.", "",
             f"Rules: {', '.join(preparation.rules)}"
             + (f"; turned off: {', '.join(preparation.skipped_rules)}" if preparation.skipped_rules else ""), "",
             "| rule | file | before → after |", "| --- | --- | --- |"]
    lines += [f"| {c.rule} | `{c.path}`{f' {_cell(c.setting)}' if c.setting else ''} | {_before_after(c)} |"
              for c in preparation.changes]
    lines += ["", *[f"- finding ({f.rule}): {_cell(f.message)}" for f in preparation.findings], ""]
    return lines


def _before_after(change: Change) -> str:
    before, after = change.before, change.after
    if before is None:
        return f"(created) → {_shown(after)}"
    if after is None:
        return f"{_shown(before)} → (removed)"
    if "\n" not in before.strip() and "\n" not in after.strip():
        return f"{_shown(before)} → {_shown(after)}"
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    changed = [line for line in diff if line[:2] in ("- ", "+ ")]
    return "<br>".join(f"`{_cell(line)}`" for line in changed)


def _shown(text: str | None) -> str:
    lines = (text or "").splitlines() or [""]
    return "<br>".join(f"`{_cell(line)}`" for line in lines)


def _cell(text: str) -> str:
    """Text as a Markdown table cell holds it: no pipe or backtick breaks the table."""
    return text.replace("|", "\\|").replace("`", "'")
