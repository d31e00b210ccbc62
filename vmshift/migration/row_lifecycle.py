"""A plan row's VM in its lifecycle (vmshift/state/lifecycle.py): the check every step makes before it acts, the
step taken once it has, and the VM's history as people read it. Not in vmshift.state: the row (vmshift.plan) names
the cache account that holds the VM's state document, and the state layer knows no plan."""

from __future__ import annotations

from collections.abc import Sequence

from vmshift.plan.schema import WavePlanRow
from vmshift.state import lifecycle
from vmshift.state.lifecycle import Actor, LifecycleRefused, Phase, Step
from vmshift.state.status import history_markdown
from vmshift.state.store import StateStore


def check(vm: WavePlanRow, step: Step) -> Phase:
    """Where `step` leads the VM; LifecycleRefused (why, and what to do instead) before anything is done."""
    return lifecycle.next_phase(_store(vm).load(vm.source_vm).state, step)


def refusals(vms: Sequence[WavePlanRow], step: Step) -> dict[str, str]:
    """The VMs whose phase refuses `step`, each with its refusal."""
    refused = {}
    for vm in vms:
        try:
            check(vm, step)
        except LifecycleRefused as refusal:
            refused[vm.source_vm] = str(refusal)
    return refused


def take(vm: WavePlanRow, step: Step, actor: Actor, *, note: str | None = None, as_error: bool = False) -> Phase:
    """Take `step` for the VM and save it (StateStore.advance)."""
    return _store(vm).advance(vm.source_vm, step, actor, note=note, as_error=as_error).state.phase


def history(vm: str, cache_account: str) -> str:
    """The VM's phase and its history, in markdown."""
    return history_markdown(StateStore.for_account(cache_account).load(vm).state)


def _store(vm: WavePlanRow) -> StateStore:
    return StateStore.for_account(vm.cache_storage_account)
