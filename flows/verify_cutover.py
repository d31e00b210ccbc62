"""`verify-cutover`: the migrated disks of cut-over VMs proven whole against the source's manifests, while the VMs
run. The cutover starts it for each VM once the VM exists; run it again to finish a verification that stopped
(it resumes from its checkpoints, reading nothing twice). A disk that differs fails the run, naming the disk, the
offset and what to do; the target VM is left running.
"""

from __future__ import annotations

from prefect import State, flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import Failed

from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.access import permissions
from tasks.cutover import verify_cutover as verify_vm
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import artifact_key, verification_markdown, verification_row
from vmshift.migration.verification import CutoverVerificationFailed
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.steps import MigrationStep


@flow(name="verify-cutover", validate_parameters=False)
async def verify_cutover(wave: Wave | str, vms: list[str] | None = None) -> dict | State:
    """Returns `{"wave", "vms": [{vm, outcome: verified | failed, verification, post_verify_bytes, post_verify_s,
    bytes_read, disks, error}]}`; the run fails when a disk differs."""
    wave = await resolve_wave(wave)
    # The proof is the cutover's last part (docs/permissions.md); a rerun to finish it is asked again.
    await permissions(MigrationStep.CUTOVER, select_vms(wave, vms), Appliance.from_env())

    async def one(vm: WavePlanRow) -> dict:
        try:
            run = await verify_vm(vm)
        except CutoverVerificationFailed as failed:
            return verification_row(vm.source_vm, failed.run.record, failed.run.bytes_read, error=str(failed))
        return verification_row(vm.source_vm, run.record, run.bytes_read)

    def done(_: WavePlanRow, row: dict) -> dict:
        return row

    rows = await side_by_side(select_vms(wave, vms), one, done)
    await acreate_markdown_artifact(verification_markdown(wave.name, rows),
                                    key=artifact_key("verify-cutover", wave.name),
                                    description=f"Post-cutover verification of wave {wave.name}")
    result = {"wave": wave.name, "vms": rows}
    failed = [row for row in rows if row["outcome"] != "verified"]
    if failed:
        return Failed(message="; ".join(row["error"] or row["vm"] for row in failed), data=result)
    return result
