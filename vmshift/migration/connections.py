"""The appliance's reach into the estate, from its environment alone: vCenter's inventory, the data mover, the
cache accounts' state documents. The tasks call these; tests of the orchestration alone replace them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.state.document import VmState
from vmshift.state.lifecycle import Actor, Step
from vmshift.state.store import StateStore, UnreadableState
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.facts import VmFacts, facts_from_inventory
from vmshift.vsphere.inventory import inventory

ProgressCallback = Callable[[float], None]


def read_inventory(vm_names: Sequence[str], vcenter: str | None = None) -> pd.DataFrame:
    """Those VMs' rows of the inventory of `vcenter` (a plan's `vcenter` cell; None: the default vCenter)."""
    with connect(VCenterConfig.named_in_plan(vcenter)) as session:
        return inventory(session, vm_names)


def source_facts(vm_names: Sequence[str], target_names: dict[str, str],
                 vcenters: Mapping[str, str | None] | None = None) -> dict[str, VmFacts]:
    """The VMs as their vCenter shows them now, each read from the vCenter `vcenters` names for it (the plan's
    `vcenter` column; none: the default one); a VM missing from its inventory is left out (readiness says so)."""
    vcenters = vcenters or {}
    facts: dict[str, VmFacts] = {}
    for vcenter in dict.fromkeys(vcenters.get(name) or None for name in vm_names):
        names = [name for name in vm_names if (vcenters.get(name) or None) == vcenter]
        rows = read_inventory(names, vcenter) if vcenter else read_inventory(names)
        facts |= facts_from_inventory(rows, target_names)
    return {name: facts[name] for name in vm_names if name in facts}


def run_cycle(vm: str, cache_account: str, stop: threading.Event, on_progress: ProgressCallback, step: Step,
              actor: Actor, included_disks: Sequence[int] | None = None, owner: str = "", vcenter: str = "",
              placement: tuple[str | None, str | None] | None = None) -> dict:
    """One cycle (initial, delta or resync, as the VM's state says) that `step` starts, with the appliance's mover
    settings, in the VM's `vcenter` (its name; empty: the default one); the first one keeps `included_disks` (the
    plan's disks, by vSphere key; None: every disk). `owner` (the flow run) takes over a claim its own lost attempt
    left. `placement`: the plan's appliance and vCenter, kept in the VM's state (replicate_once)."""
    with connect(VCenterConfig.named_in_plan(vcenter or None)) as session:
        return replicate_once(vm, session=session, settings=ReplicationSettings.from_env(cache_account), stop=stop,
                              on_progress=on_progress, included_disks=included_disks, step=step, actor=actor,
                              owner=owner, placement=placement)


def replication_states(
    cache_accounts: Sequence[str],
) -> tuple[dict[str, tuple[str, VmState]], list[UnreadableState]]:
    """VM name → (its cache account, its state), across the accounts; and the VMs whose state is unreadable."""
    found: dict[str, tuple[str, VmState]] = {}
    unreadable: list[UnreadableState] = []
    for account in cache_accounts:
        states, broken = StateStore.for_account(account).all_states()
        found |= {state.vm: (account, state) for state in states}
        unreadable += broken
    return found, unreadable


def record_stop(vm: str, cache_account: str, actor: Actor, note: str) -> None:
    """The VM's replication stopped on request where no cycle of it could say so (its run stopped outside its
    cycle): its state document says stopped, with `note` as its error."""
    StateStore.for_account(cache_account).advance(vm, Step.STOP, actor, note=note, as_error=True)
