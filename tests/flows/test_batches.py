"""A wave's VMs in `replicate-vms` runs (flows/dispatch.py, `batches`): as even as `vms_per_run` allows, never
mixing queues, each VM's parameters carried whole."""

from __future__ import annotations

from flows.dispatch import BATCH_RUN, VmRun, appliance_queue, batches, vcenter_queue


def _run(vm: str, vcenter: str = "vc-a", appliance: str | None = None) -> VmRun:
    return VmRun(vm, f"replicate-{vm}", vcenter, {"vm": {"source_vm": vm}, "facts": {"name": vm}},
                 appliance=appliance)


def test_sixty_vms_in_runs_of_25_go_in_three_runs_of_20() -> None:
    runs = batches([_run(f"vm-{index:02d}") for index in range(60)], 25)

    assert [len(run.members) for run in runs] == [20, 20, 20]
    assert sorted(vm for run in runs for vm in run.members) == [f"vm-{index:02d}" for index in range(60)]
    first = runs[0]
    assert first.name == first.vm == f"{BATCH_RUN}vm-00+19"
    assert first.parameters["vms"] == [{"source_vm": vm} for vm in first.members]
    assert first.parameters["facts"] == {vm: {"name": vm} for vm in first.members}
    assert {run.queue for run in runs} == {vcenter_queue("vc-a")}


def test_a_runs_vms_share_one_queue_each_vcenter_and_pinned_appliance_apart() -> None:
    runs = batches([_run("a1"), _run("b1", "vc-b"), _run("a2"), _run("p1", appliance="app-1"), _run("a3")], 2)

    assert [(run.queue, run.members) for run in runs] == [
        (vcenter_queue("vc-a"), ("a1", "a3")), (vcenter_queue("vc-a"), ("a2",)),
        (vcenter_queue("vc-b"), ("b1",)), (appliance_queue("app-1", "vc-a"), ("p1",))]


def test_fewer_vms_than_a_run_holds_go_in_one() -> None:
    assert [run.members for run in batches([_run("a"), _run("b")], 50)] == [("a", "b")]
