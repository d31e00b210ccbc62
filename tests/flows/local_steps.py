"""Local stand-ins for the library steps a wave calls, for tests about orchestration alone.

They replace the library functions the tasks call (never the Azure or vSphere clients): the order of
stages, the concurrency limits and failure isolation are Prefect's business, whatever the steps do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.client.schemas.objects import ArtifactCollection

from vmshift.azure.dns_gate import GateResult, Resolution, blob_fqdn
from vmshift.azure.endpoint import PrivateEndpointInfo
from vmshift.azure.private_dns import PrivateDnsSetup
from vmshift.migration import access, connections, private_link, row_lifecycle
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.plan.validation import validate_plan
from vmshift.state import lifecycle
from vmshift.state.document import RecoveryPoint, VmState
from vmshift.state.lifecycle import Actor, LifecycleRefused, Phase, Step
from vmshift.state.status import history_markdown

EXAMPLE_PLAN = Path(__file__).parents[2] / "examples" / "waves.csv"
LOCAL = Actor("tests/flows", run="local")


def latest_artifact(key: str) -> ArtifactCollection:
    """The artifact of that key as the Prefect UI shows it: its latest version."""
    async def read() -> list[ArtifactCollection]:
        async with get_client() as client:
            return await client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[key])))
    return asyncio.run(read())[0]


def wave_of(name: str, vm_names: list[str]) -> Wave:
    """A wave of the example plan's first row, cloned once per VM name."""
    plan = validate_plan(EXAMPLE_PLAN, now=pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime()).raise_for_errors()
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")
    rows = tuple(dataclasses.replace(template, wave=name, source_vm=vm, target_vm_name=vm) for vm in vm_names)
    return dataclasses.replace(plan.waves[0], name=name, vms=rows)


def _endpoint_of(account: str) -> PrivateEndpointInfo:
    return PrivateEndpointInfo(id=f"/pe/{account}", name=f"pe-{account}-blob", account_id=f"/sa/{account}",
                               status="Approved", approval="automatic", nic_id="/nic", private_ip="10.10.2.4")


class LocalSteps:
    """Records what ran; `cycle` decides per VM what a replication cycle does (default: sleep briefly)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, vm_names: list[str]) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.vm_names = vm_names
        self.cycle: Callable[[str], dict] = lambda vm: self._sleep_cycle(vm)
        self.stops: dict[str, threading.Event] = {}  # each VM's stop request, as its cycle received it
        self.progress: dict[str, Callable[[float], None]] = {}  # where each VM's cycle reports its progress
        self.gate: Callable[[str], None] = lambda account: None
        monkeypatch.setattr(access, "check_access", self._access)
        monkeypatch.setattr(private_link, "reach_endpoint", self._endpoint)
        monkeypatch.setattr(private_link, "setup_private_dns", self._dns)
        monkeypatch.setattr(private_link, "check_gate", self._gate)
        monkeypatch.setattr(private_link, "check_existing_gate", self._existing_gate)
        monkeypatch.setattr(connections, "read_inventory", self._inventory)
        monkeypatch.setattr(connections, "run_cycle", self._cycle)
        monkeypatch.setattr(connections, "record_stop", self._record_stop)
        # Each VM's lifecycle, kept here instead of in a cache account's state document; a VM with none is
        # discovered, as a missing document reads.
        self.states: dict[str, VmState] = {}
        monkeypatch.setattr(row_lifecycle, "refusals", self._refusals)
        monkeypatch.setattr(row_lifecycle, "take", self._take)
        monkeypatch.setattr(row_lifecycle, "history", lambda vm, account: history_markdown(self.state(vm)))

    def state(self, vm: str) -> VmState:
        with self.lock:
            return self.states.setdefault(vm, VmState(vm=vm))

    def replicated(self, vm: str) -> None:
        """The VM as its initial replication leaves it: protected, with a recovery point."""
        state = self.state(vm)
        lifecycle.advance(state, Step.REPLICATE, LOCAL)
        state.recovery_points.append(RecoveryPoint(cycle=1, created_at=datetime.now(UTC), blob_snapshots={},
                                                   change_ids={}))
        lifecycle.advance(state, Step.CYCLE_DONE, LOCAL)

    def _refusals(self, vms: Sequence[WavePlanRow], step: Step) -> dict[str, str]:
        refused = {}
        for vm in vms:
            try:
                lifecycle.next_phase(self.state(vm.source_vm), step)
            except LifecycleRefused as refusal:
                refused[vm.source_vm] = str(refusal)
        return refused

    def _take(self, vm: WavePlanRow, step: Step, actor: Actor, *, note: str | None = None,
              as_error: bool = False) -> Phase:
        state = self.state(vm.source_vm)
        with self.lock:
            phase = lifecycle.advance(state, step, actor, note=note)
            if as_error:
                state.error = note
            return phase

    def _record_stop(self, vm: str, cache_account: str, actor: Actor, note: str) -> None:
        state = self.state(vm)
        with self.lock:
            lifecycle.advance(state, Step.STOP, actor, note=note)
            state.error = note

    def record(self, step: str, subject: str) -> None:
        with self.lock:
            self.calls.append((step, subject))

    def _access(self, step: str, appliance: object, rows: list, vms: tuple = ()) -> None:
        self.record("permissions", step)

    def _endpoint(self, account: str, region: str, appliance: object) -> PrivateEndpointInfo:
        self.record("endpoint", account)
        return _endpoint_of(account)

    def _dns(self, endpoint: PrivateEndpointInfo, appliance: object) -> PrivateDnsSetup:
        self.record("dns", endpoint.name)
        return PrivateDnsSetup(zone_id="/zone", link_id="/link", zone_group_id="/group")

    def _gate(self, account: str, endpoint: PrivateEndpointInfo, appliance: object) -> GateResult:
        self.record("gate", account)
        self.gate(account)
        fqdn = blob_fqdn(account)
        return GateResult(fqdn, True, "private", f"{fqdn} resolves to {endpoint.private_ip}",
                          Resolution(fqdn, "local", addresses=(endpoint.private_ip,)))

    def _existing_gate(self, account: str, appliance: object) -> GateResult:
        """The gate again, on the endpoint a wave made (test migration, cutover and delta-sync ask it)."""
        return self._gate(account, _endpoint_of(account), appliance)

    def _inventory(self, vm_names: Sequence[str], vcenter: str | None = None) -> pd.DataFrame:
        return pd.DataFrame([
            {"vm": vm, "guest_os": "rhel8_64Guest", "firmware": "efi", "power_state": "poweredOn",
             "disk_key": 2000, "capacity_bytes": 64 * 2**20, "datastore_path": f"[ds-nfs-02] {vm}/{vm}.vmdk",
             "cbt": False, "host": "esx-01.lab.local"}
            for vm in self.vm_names if vm in vm_names
        ])

    def _cycle(self, vm: str, cache_account: str, stop: threading.Event, on_progress: Callable[[float], None],
               step: Step, actor: Actor, included_disks: object = None, owner: str = "", vcenter: str = "",
               placement: tuple[str | None, str | None] | None = None) -> dict:
        self.record("cycle", vm)
        if placement is not None:
            state = self.state(vm)
            with self.lock:
                state.appliance, state.vcenter = placement
        self.stops[vm], self.progress[vm] = stop, on_progress
        return self.cycle(vm)

    @staticmethod
    def _sleep_cycle(vm: str) -> dict:
        time.sleep(0.3)
        return {"vm": vm, "cycle": 1, "kind": "initial", "bytes_sent": 64 * 2**20, "seconds": 0.3}
