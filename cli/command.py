"""The `vmshift` command: human text by default, one JSON object as the last line with --json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from vmshift.azure.clients import AzureNotConfigured
from vmshift.azure.errors import AzureStepError, DnsGateFailed
from vmshift.lab import guest, launcher
from vmshift.lab.guest import GuestWriteFailed
from vmshift.lab.process import PartFailed
from vmshift.lab.spec import LabSpecInvalid
from vmshift.migration import private_link
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitOverrideInvalid, limits_for
from vmshift.migration.live_checks import live_checks_from_env
from vmshift.plan.recovery_point import RECOVERY_POINT_ALLOWED, RecoveryPointInvalid, parse_recovery_point
from vmshift.plan.validation import PlanValidation, parse_start_at, validate_plan
from vmshift.replication.cycle import ReplicaMismatch, ReplicationSettings, replicate_once
from vmshift.replication.extents import UnalignedDisk
from vmshift.replication.hygiene import ReplicationInProgress
from vmshift.replication.manifest import ManifestMissing
from vmshift.replication.pageblob import BlobNotOurs, DiskShrunk, TransitCorruption
from vmshift.replication.verify import verify_vm
from vmshift.state.lifecycle import Actor, LifecycleRefused, Step
from vmshift.state.status import history_rows, vm_status
from vmshift.state.store import StateConflict, StateCorrupt, StateSchemaTooNew, StateStore
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.errors import VSphereError
from vmshift.vsphere.facts import facts_from_inventory
from vmshift.vsphere.inventory import inventory


@dataclass(frozen=True)
class Outcome:
    """What a command reports: lines for people, a dict for scripts, and whether it succeeded."""

    text: str
    data: dict
    ok: bool = True


Handler = Callable[[argparse.Namespace], Outcome]

# Expected failures: the message is for the user, a traceback would only hide it.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    LabSpecInvalid, PartFailed, FileNotFoundError, GuestWriteFailed, VSphereError,
    AzureStepError, AzureNotConfigured, LimitOverrideInvalid, ClientAuthenticationError, ServiceRequestError,
    ReplicationInProgress, UnalignedDisk, BlobNotOurs, DiskShrunk, StateConflict, StateCorrupt, StateSchemaTooNew,
    ManifestMissing, ReplicaMismatch, TransitCorruption,
    LifecycleRefused, RecoveryPointInvalid,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        outcome = args.handler(args)
    except EXPECTED_ERRORS as exc:
        outcome = Outcome(f"error: {exc}", {"ok": False, "error": str(exc)}, ok=False)
    if outcome.text:
        print(outcome.text, file=sys.stdout if outcome.ok else sys.stderr)
    if args.json:
        print(json.dumps(outcome.data, default=str))
    return 0 if outcome.ok else 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser = argparse.ArgumentParser(prog="vmshift", parents=[common], description=__doc__)
    commands = parser.add_subparsers(title="commands")

    lab = commands.add_parser("lab", parents=[common], help="the embedded lab: vCenter, storage, ARM, DNS")
    lab_commands = lab.add_subparsers(title="lab commands")
    lab_up = lab_commands.add_parser("up", parents=[common], help="start the lab (no-op when it is up)")
    lab_up.add_argument("--spec", type=Path, help="lab spec JSON (default: the one shipped with vmshift)")
    lab_up.add_argument("--with-prefect", action="store_true", help="also start a Prefect server (UI and API)")
    lab_up.set_defaults(handler=_lab_up)
    lab_status = lab_commands.add_parser("status", parents=[common], help="ask each part")
    lab_status.set_defaults(handler=_lab_status)
    for sub in (lab_up, lab_status):
        sub.add_argument("--show-secrets", action="store_true",
                         help="print the lab's throwaway credentials instead of masking them")
    lab_commands.add_parser("down", parents=[common], help="stop the lab").set_defaults(handler=_lab_down)
    lab_write = lab_commands.add_parser("write", parents=[common], help="write into a VM's disk as its guest would")
    lab_write.add_argument("--vm", required=True)
    lab_write.add_argument("--disk", type=int, help="device key (default: the first disk)")
    lab_write.add_argument("--offset", type=int, required=True)
    lab_write.add_argument("--file", type=Path, required=True, help="the bytes to write")
    lab_write.set_defaults(handler=_lab_write)
    lab_churn = lab_commands.add_parser("churn", parents=[common], help="random guest writes over P %% of each disk")
    lab_churn.add_argument("--vm", required=True)
    lab_churn.add_argument("--percent", type=float, required=True)
    lab_churn.add_argument("--seed", type=int)
    lab_churn.set_defaults(handler=_lab_churn)

    commands.add_parser("inventory", parents=[common], help="the vCenter inventory").set_defaults(
        handler=_inventory)

    replicate = commands.add_parser("replicate", parents=[common],
                                    help="one replication cycle now (initial, delta or resync)")
    replicate.add_argument("--vm", required=True, help="source VM name or moref")
    replicate.add_argument("--cache-account", help="cache storage account (default: $VMSHIFT_CACHE_ACCOUNT)")
    replicate.add_argument("--resync", action="store_true",
                           help="compare every block of the disks and send those that differ, whatever CBT says")
    replicate.set_defaults(handler=_replicate)
    verify = commands.add_parser("verify", parents=[common], help="compare the source snapshot and the replica")
    verify.add_argument("--vm", required=True, help="source VM name or moref")
    verify.add_argument("--recovery-point", help="a cycle number or blob snapshot id (default: the latest)")
    verify.add_argument("--cache-account", help="cache storage account (default: $VMSHIFT_CACHE_ACCOUNT)")
    verify.set_defaults(handler=_verify)

    plan = commands.add_parser("plan", parents=[common], help="wave plans: validate, upload")
    plan_commands = plan.add_subparsers(title="plan commands")
    plan_validate = plan_commands.add_parser("validate", parents=[common], help="validate a wave plan CSV")
    plan_upload = plan_commands.add_parser("upload", parents=[common],
                                           help="validate, then schedule each wave on the Prefect server")
    for sub in (plan_validate, plan_upload):
        sub.add_argument("file", type=Path, help="the wave plan (vmshift's CSV or Azure Migrate's Input.csv)")
        sub.add_argument("--format", choices=["vmshift", "azure-migrate"], help="default: from the header")
        sub.add_argument("--offline", action="store_true", help="skip the checks that ask vCenter and ARM")
        sub.add_argument("--wave", help="the wave name for a plan without one (Azure Migrate's format)")
        sub.add_argument("--start-at", help="'now', '+30m' or an ISO time: moves the plan's whole schedule")
        sub.add_argument("--region", help="the target region for rows without one")
        sub.add_argument("--cache-storage-account", help="the cache storage account for rows without one")
        sub.add_argument("--waves-file", type=Path, help="a small CSV of VM, wave and start time")
        sub.add_argument("--assessment", type=Path,
                         help="an assessment CSV whose VM sizes and disk types fill what the plan leaves empty")
    plan_validate.set_defaults(handler=_plan_validate)
    plan_upload.set_defaults(handler=_plan_upload)

    status = commands.add_parser("status", parents=[common], help="each VM's replication, from its state document")
    status.add_argument("--wave", help="only the VMs of this uploaded wave")
    status.add_argument("--vm", help="only this VM")
    status.add_argument("--cache-account", help="cache storage account(s), comma-separated "
                        "(default: $VMSHIFT_CACHE_ACCOUNT)")
    status.set_defaults(handler=_status)

    stop = commands.add_parser("stop", parents=[common],
                               help="stop one VM's replication in a running wave (cancels its replicate-<vm> run)")
    stop.add_argument("--vm", required=True)
    stop.set_defaults(handler=_stop)
    appliance = commands.add_parser(
        "appliance", parents=[common],
        help="run this machine's appliance: a Prefect worker taking its vCenter's VMs' replication runs")
    appliance.add_argument("--limit", type=int, default=300, help="VMs' runs in flight at most (default 300)")
    appliance.add_argument("--lost-after", type=int, default=90, metavar="S",
                           help="a run without a heartbeat for S seconds is crashed and run again (default 90)")
    appliance.set_defaults(handler=_appliance)
    limits = commands.add_parser("limits", parents=[common], help="Prefect global concurrency limits")
    limits_commands = limits.add_subparsers(title="limits commands")
    limits_setup = limits_commands.add_parser(
        "setup", parents=[common], help="create (or resize) every limit for the vCenter's hosts and datastores")
    limits_setup.add_argument("--set", action="append", default=[], metavar="KIND=N",
                              help="override a default, e.g. vmshift-host-disk-reads=4 (repeatable)")
    limits_setup.set_defaults(handler=_limits_setup)

    deploy = commands.add_parser("deploy", parents=[common],
                                 help="prefect deploy --all, then make the deployments refuse unknown parameters")
    deploy.add_argument("--prefect-file", type=Path, default=Path("prefect.yaml"),
                        help="the project's prefect.yaml (default: the one in this folder)")
    deploy.set_defaults(handler=_deploy)

    for step, what in (("test-migrate", "build the VMs from a recovery point (the latest) in the test VNet"),
                       ("cleanup-test", "delete what the test migration created"),
                       ("cutover", "cut the VMs over (behind the gates) through the cutover deployment"),
                       ("verify-cutover", "prove the cut-over VMs' disks equal to the source (resumes where it "
                                          "stopped)"),
                       ("rollback", "delete the target VMs and power the sources on again")):
        sub = commands.add_parser(step, parents=[common], help=what)
        sub.add_argument("--wave", help="the uploaded wave (default: the one holding --vm)")
        sub.add_argument("--vm", action="append", help="only this VM (repeatable)")
        sub.add_argument("--no-wait", action="store_true", help="return once the flow run is created")
        if step == "cutover":
            sub.add_argument("--skip-test-migration", action="store_true",
                             help="allow VMs that were never test-migrated")
        if step == "test-migrate":
            sub.add_argument("--recovery-point", help=f"the point to build from: {RECOVERY_POINT_ALLOWED}")
        sub.set_defaults(handler=_step, step=step)
    return parser


def _limits_setup(args: argparse.Namespace) -> Outcome:
    from tasks.slots import ensure_limits

    overrides = {}
    for item in args.set:
        kind, _, size = item.partition("=")
        if not size.strip().isdigit():
            raise LimitOverrideInvalid(f"--set {item!r}: write KIND=N with N a whole number, e.g. "
                                       "vmshift-host-disk-reads=4")
        overrides[kind.strip()] = int(size)
    with connect(VCenterConfig.from_env()) as session:
        table = inventory(session)
    planned = limits_for(facts_from_inventory(table).values(), Appliance.from_env(), overrides)
    in_force = asyncio.run(ensure_limits(planned, update=True))
    lines = [f"  {name:60} {size}" for name, size in sorted(in_force.items())]
    return Outcome("global concurrency limits in force:\n" + "\n".join(lines), {"limits": in_force})


def _appliance(args: argparse.Namespace) -> Outcome:
    # Heartbeats are how a lost appliance is found: every 30 s (Prefect's least; its default is 180) unless the
    # environment says otherwise. A 500 is retried too: the server answers it while its PostgreSQL restarts, and
    # a VM's run whose final state could not be written would wait for the lost-appliance automations instead.
    # Set before Prefect reads its settings, so that its background threads (logs, events) have them too.
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
    os.environ.setdefault("PREFECT_CLIENT_RETRY_EXTRA_CODES", "500")
    from prefect.settings import (
        PREFECT_CLIENT_RETRY_EXTRA_CODES,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from flows.appliance import serve

    name = Appliance.from_env().name
    heartbeat = int(os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    if args.lost_after < 2 * heartbeat:
        error = (f"--lost-after {args.lost_after}: allow at least two heartbeats ({2 * heartbeat} s), or a busy "
                 "appliance is taken for a lost one")
        return Outcome(f"error: {error}", {"ok": False, "error": error}, ok=False)
    settings = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: heartbeat,
                PREFECT_CLIENT_RETRY_EXTRA_CODES: os.environ["PREFECT_CLIENT_RETRY_EXTRA_CODES"]}
    with temporary_settings(settings), contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is stopped
        asyncio.run(serve(name, args.limit, args.lost_after))
    return Outcome(f"appliance {name} stopped", {"appliance": name})


def _deploy(args: argparse.Namespace) -> Outcome:
    from deployments.deploy import DeployFailed, deploy_project

    try:
        sealed = deploy_project(args.prefect_file)
    except DeployFailed as failure:
        return Outcome(f"error: {failure}", {"ok": False, "error": str(failure)}, ok=False)
    return Outcome(f"deployed, refusing parameters their flows do not take: {', '.join(sealed)}",
                   {"deployments": sealed})


def _step(args: argparse.Namespace) -> Outcome:
    from deployments.trigger import run_step, wave_of_vm

    if not args.wave and not args.vm:
        return Outcome("error: name --wave W or --vm V", {"ok": False, "vms": []}, ok=False)
    wave = args.wave or asyncio.run(wave_of_vm(args.vm[0]))
    parameters: dict = {"wave": wave, "vms": args.vm}
    if getattr(args, "skip_test_migration", False):
        parameters["skip_test_migration"] = True
    if getattr(args, "recovery_point", None):
        parameters["recovery_point"] = str(parse_recovery_point(args.recovery_point))  # refused here if wrong
    result = asyncio.run(run_step(args.step, parameters, wait=not args.no_wait))
    if args.no_wait:
        return Outcome(f"{args.step} of {wave}: flow run {result['flow_run_id']} created", result)
    rows = [{"name": row["vm"], **{k: v for k, v in row.items() if k != "vm"}} for row in result.get("vms", [])]
    lines = [f"{args.step} of {wave} (flow run {result['flow_run_id']})"]
    lines += [f"  {row['name']:16} {row['outcome']:14} {row.get('error') or ''}" for row in rows]
    failed = [row for row in rows if row["outcome"] in ("failed", "refused")]
    return Outcome("\n".join(lines), {"wave": wave, "flow_run_id": result["flow_run_id"], "vms": rows},
                   ok=not failed)


def _stop(args: argparse.Namespace) -> Outcome:
    from flows.stop import NothingToStop, request_stop

    try:
        runs = asyncio.run(request_stop(args.vm))
    except NothingToStop as error:
        return Outcome(f"error: {error}", {"ok": False, "vm": args.vm, "error": str(error)}, ok=False)
    return Outcome(f"{args.vm}: asked run {', '.join(map(str, runs))} to stop; it stops at its next checkpoint "
                   "and `vmshift status` then shows it stopped", {"vm": args.vm, "flow_run_ids": list(map(str, runs))})


def _status(args: argparse.Namespace) -> Outcome:
    accounts = [a for a in (args.cache_account or os.environ.get("VMSHIFT_CACHE_ACCOUNT", "")).split(",") if a]
    if not accounts:
        return Outcome("error: name the cache storage account: --cache-account or VMSHIFT_CACHE_ACCOUNT",
                       {"ok": False, "vms": []}, ok=False)
    states, unreadable = [], []
    for account in accounts:
        readable, broken = StateStore.for_account(account).all_states()
        states += readable
        unreadable += broken
    chosen: set[str] | None = None
    if args.wave:
        from deployments.upload import WaveNotUploaded, uploaded_wave

        try:
            chosen = {vm.source_vm for vm in asyncio.run(uploaded_wave(args.wave)).vms}
        except WaveNotUploaded as error:
            return Outcome(f"error: {error}", {"ok": False, "error": str(error), "vms": []}, ok=False)
    if args.vm:
        chosen = {args.vm} if chosen is None else chosen & {args.vm}
    rows = [vm_status(state) | ({"history": history_rows(state)} if args.vm else {})
            for state in states if chosen is None or state.vm in chosen]
    broken = [entry for entry in unreadable if chosen is None or entry.vm in chosen]
    lines = [f"error: {entry.error}" for entry in broken]
    lines += [f"{'VM':16} {'phase':16} {'last cycle':34} {'points':6} {'next cycle due':26} error"]
    for row in rows:
        last = row["last_cycle"]
        cycle = f"{last['kind']} #{last['cycle']} {last['finished_at'][:19]}" if last else "-"
        phase = row["phase"]
        if row["in_progress"]:  # a cycle runs, or died and its next one resumes it
            phase += f" {row['in_progress']['percent_done']:.0f}%"
        lines.append(f"{row['name']:16} {phase:16} {cycle:34} {row['recovery_points']:<6} "
                     f"{(row['next_cycle_due'] or '-')[:19]:26} {row['error'] or ''}")
        if args.vm:
            lines += ["", f"{'at (UTC)':20} {'step':15} {'from → to':30} {'command / run':50} by"]
            lines += [f"{change['at'][:19]:20} {change['step']:15} {change['from'] + ' → ' + change['phase']:30} "
                      f"{change['command'] + (' ' + change['run'] if change['run'] else ''):50} {change['by'] or ''}"
                      + (f"\n{'':20} {change['note']}" if change["note"] else "") for change in row["history"]]
            if not row["history"]:
                lines.append("(no change of phase recorded)")
    if not rows and not broken:
        lines.append("(no VM replicates" + (f" in {args.wave or args.vm})" if chosen is not None else ")"))
    return Outcome("\n".join(lines), {"vms": rows, "unreadable": [vars(entry) for entry in broken]}, ok=not broken)


def _validated(args: argparse.Namespace, appliances: dict[str, set[str]] | None = None) -> PlanValidation:
    options = dict(fmt=args.format, wave=args.wave, region=args.region,
                   cache_storage_account=args.cache_storage_account, waves_file=args.waves_file,
                   assessment=args.assessment, appliances=appliances,
                   start_at=parse_start_at(args.start_at) if args.start_at else None)
    if args.offline:
        return validate_plan(args.file, checks=None, **options)
    with live_checks_from_env() as checks:
        return validate_plan(args.file, checks=checks, **options)


def _plan_validate(args: argparse.Namespace) -> Outcome:
    result = _validated(args)
    return Outcome(result.text(), result.to_json(), ok=result.ok)


def _plan_upload(args: argparse.Namespace) -> Outcome:
    from deployments.upload import upload_plan
    from flows.dispatch import appliances_known

    # The server it uploads to knows its appliances: a row naming one that is not, or not of its vCenter, is refused.
    result = _validated(args, asyncio.run(appliances_known()))
    if not result.ok:
        return Outcome(result.text() + "\nnothing was scheduled", result.to_json() | {"waves": []}, ok=False)
    waves = asyncio.run(upload_plan(result.raise_for_errors()))
    lines = [f"wave {w['name']}: flow run {w['flow_run_id']} at {w['start_at']}"
             f"{'' if w['created'] else ' (already scheduled: unchanged)'}" for w in waves]
    return Outcome("\n".join(lines), {"waves": waves})


def _replicate(args: argparse.Namespace) -> Outcome:
    command = "vmshift replicate --resync" if args.resync else "vmshift replicate"
    settings = ReplicationSettings.from_env(args.cache_account)
    try:  # as every cycle, only through the account's private endpoint
        private_link.check_existing_gate(settings.cache_account, Appliance.from_env())
    except DnsGateFailed as closed:
        error = f"{args.vm}: nothing replicated: the DNS gate of {settings.cache_account} is closed: {closed}"
        return Outcome(f"error: {error}", {"ok": False, "vm": args.vm, "error": error}, ok=False)
    report = replicate_once(args.vm, settings=settings, step=Step.RESYNC if args.resync else Step.REPLICATE,
                            actor=Actor.here(command))
    lines = [f"{report['vm']}: {report.get('kind', '')} cycle {report['cycle']} sent {report['bytes_sent']} bytes "
             f"({report['changed_bytes']} changed) in {report['seconds']:.1f} s"]
    lines += [f"  disk {d['key']}: recovery point {d['recovery_point']} of {d['blob_url']}" for d in report["disks"]]
    return Outcome("\n".join(lines), report)


def _verify(args: argparse.Namespace) -> Outcome:
    report = verify_vm(args.vm, recovery_point=args.recovery_point,
                       settings=ReplicationSettings.from_env(args.cache_account))
    lines = [f"{report['vm']}: {'equal' if report['equal'] else 'DIFFERENT'}"]
    for disk in report["disks"]:
        where = ""
        if disk["first_difference"] is not None:
            where = f", first difference at byte {disk['first_difference']}"
        elif disk["footer_problem"]:
            where = f", Azure would refuse it as a disk: {disk['footer_problem']}"
        lines.append(f"  disk {disk['key']}: {'equal' if disk['equal'] else 'different'}{where}")
    return Outcome("\n".join(lines), report, ok=report["equal"])


def _running_lab() -> dict:
    lab = launcher.status(launcher.lab_dir())
    if not lab.get("vcenter", {}).get("healthy"):
        raise PartFailed(lab.get("error") or "the lab's vCenter does not answer; run `vmshift lab up`")
    return lab


def _lab_write(args: argparse.Namespace) -> Outcome:
    result = guest.write_guest(_running_lab(), args.vm, args.offset, args.file.read_bytes(), args.disk)
    return Outcome(f"wrote {result['length']} bytes at offset {result['offset']} of {result['vm']} disk "
                   f"{result['disk']}", result)


def _lab_churn(args: argparse.Namespace) -> Outcome:
    result = guest.churn_guest(_running_lab(), args.vm, args.percent, args.seed)
    return Outcome(f"wrote {result['bytes_written']} bytes over {args.percent:g} % of {result['vm']}'s disks", result)


def _inventory(args: argparse.Namespace) -> Outcome:
    with connect(VCenterConfig.from_env()) as session:
        table = inventory(session)
    vms = []
    for (name, moref), rows in table.groupby(["vm", "moref"], sort=False):
        first = rows.iloc[0]
        disks = [
            {"key": int(r.disk_key), "capacity": int(r.capacity_bytes), "datastore_path": r.datastore_path,
             "cbt": bool(r.cbt)}
            for r in rows.itertuples() if r.disk_key == r.disk_key  # NaN: a VM without disks
        ]
        vms.append({"name": name, "moref": moref, "guest_os": first.guest_os, "firmware": first.firmware,
                    "power_state": first.power_state, "cpus": int(first.cpus), "memory_mib": int(first.memory_mib),
                    "disks": disks})
    lines = [f"{'VM':16} {'moref':10} {'guest OS':24} {'firmware':8} {'power':11} disks"]
    for vm in vms:
        sizes = ", ".join(f"{d['key']}: {d['capacity'] // 2**20} MiB{' cbt' if d['cbt'] else ''}" for d in vm["disks"])
        lines.append(f"{vm['name']:16} {vm['moref']:10} {vm['guest_os']:24} {vm['firmware']:8} "
                     f"{vm['power_state']:11} {sizes}")
    return Outcome("\n".join(lines), {"vms": vms})


def _lab_up(args: argparse.Namespace) -> Outcome:
    return _lab_outcome(launcher.up(launcher.lab_dir(), args.spec, with_prefect=args.with_prefect), args.show_secrets)


def _lab_status(args: argparse.Namespace) -> Outcome:
    return _lab_outcome(launcher.status(launcher.lab_dir()), args.show_secrets)


def _lab_down(args: argparse.Namespace) -> Outcome:
    stopped = launcher.down(launcher.lab_dir())
    return Outcome(f"stopped: {', '.join(stopped) or 'nothing was running'}", {"stopped": stopped})


def _lab_outcome(lab: dict, show_secrets: bool) -> Outcome:
    if "error" in lab:
        return Outcome(lab["error"], lab, ok=False)
    lab = lab if show_secrets else launcher.masked(lab)
    lines = [f"lab at {launcher.lab_dir()} — {'healthy' if lab['healthy'] else 'NOT healthy'}"]
    endpoints = {
        "vcenter": lambda p: p["url"],
        "azurite": lambda p: p["blob_endpoint"],
        "arm": lambda p: f"{p['endpoint']} (token authority {p['authority']})",
        "dns": lambda p: f"{p['host']}:{p['port']} (udp/tcp)",
        "prefect": lambda p: p["api_url"],
    }
    for name, describe in endpoints.items():
        if name in lab:
            state = "ok" if lab[name]["healthy"] else "DOWN"
            lines.append(f"  {name:8} {state:5} {describe(lab[name])}")
    lines.append(f"  environment: source {launcher.lab_dir() / 'lab.env'}")
    return Outcome("\n".join(lines), lab, ok=lab["healthy"])


if __name__ == "__main__":
    raise SystemExit(main())
