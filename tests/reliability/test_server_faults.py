"""One fault at a time in each server the wave talks to: the wave completes, or stops with a clear reason and
completes once the fault is gone; nothing is lost (replica equal to the source) or duplicated (each Azure
resource once)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from wave_runs import (
    CACHE,
    assert_disks_verified,
    finish_step,
    outcomes,
    run_step,
    source_power,
    start_step,
    target_resources,
)

from cli.command import main
from vmshift.azure.clients import AzureClients
from vmshift.azure.clients import connect as azure
from vmshift.lab import launcher, process
from vmshift.lab.guest import churn_guest, write_guest
from vmshift.lab.process import PartProcess
from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.storage import blob_service_client
from vmshift.replication.verify import verify_vm
from vmshift.state.store import StateStore

pytestmark = pytest.mark.lab
MIB = 1 << 20
ZONE = "privatelink.blob.core.windows.net"


def part(name: str) -> PartProcess:
    return launcher.lab_part(launcher.lab_dir(), name)


def command_of(name: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment a lab part runs with: to start it again as the lab started it."""
    pid = part(name).pid()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return argv, dict(entry.split("=", 1) for entry in environ if "=" in entry)


def restart(name: str, fixed: dict[str, str] | None = None) -> list[str]:
    """Stop a lab part by its PID and start the same command again (arguments in `fixed` replaced)."""
    argv, env = command_of(name)
    for flag, value in (fixed or {}).items():
        argv[argv.index(flag) + 1] = value
    process.stop(part(name))
    process.start(part(name), argv, env)
    return argv


def answers(url: str, ca_file: str) -> bool:
    try:
        requests.get(url, verify=ca_file, timeout=2)
        return True
    except requests.ConnectionError:
        return False


def wait_answering(url: str, ca_file: str) -> None:
    deadline = time.monotonic() + 60
    while not answers(url, ca_file):
        assert time.monotonic() < deadline, f"{url} did not answer again"
        time.sleep(0.2)


def replica_record(vm: str) -> tuple[list, dict[str, tuple[str, list[str]]]]:
    """The VM's recovery points, and each replica blob's ETag and snapshots: what a replication pass changes."""
    settings = ReplicationSettings.from_env(CACHE)
    state = StateStore.for_account(CACHE, settings.state_container).load(vm).state
    replicas = blob_service_client(CACHE).get_container_client(settings.replica_container)
    blobs = {disk.blob_name: (replicas.get_blob_client(disk.blob_name).get_blob_properties().etag,
                              sorted(blob.snapshot for blob in replicas.list_blobs(name_starts_with=disk.blob_name,
                                                                                   include=["snapshots"])
                                     if blob.snapshot))
             for disk in state.disks.values()}
    return state.recovery_points, blobs


def replica_equal(vm: str) -> bool:
    return verify_vm(vm, settings=ReplicationSettings.from_env(CACHE))["equal"]


def percent_done(store: StateStore, vm: str) -> float:
    """Of the VM's cycle in progress, as its last saved checkpoint says (0 when none is in progress)."""
    cycle = store.load(vm).state.in_progress
    return cycle.percent_done if cycle else 0.0


def protected_after_retry(step: str, vm: str, env: dict[str, str], log: Path, first: dict) -> None:
    """A step that failed under the fault said why; run again once the fault is gone, it completes."""
    if outcomes(first) != {vm: "protected"}:
        assert first["vms"][0]["error"], first
        assert outcomes(run_step(step, [vm], env, log)) == {vm: "protected"}


def test_arm_answering_20_percent_429_or_503_during_the_azure_steps(
    lab: dict, step_env: dict[str, str], tmp_path: Path
) -> None:
    vm, faults = "rel-arm-01", lab["arm"]["endpoint"].rstrip("/") + "/_lab/faults"
    write_guest(lab, vm, 0, os.urandom(MIB))
    # Retry-After in whole seconds, the standard header (a fraction would go as Retry-After-Ms); besides the 20 %,
    # a 429 on the test VM's creation and a 503 on its deletion, so that both are known to have been answered.
    plan = {"rate": 0.2, "statuses": [429, 503], "retry_after": 1, "seed": 7,
            "next": [{"operation": "^GET .*/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks$",
                      "count": 1, "status": 429},
                     {"operation": "^PUT .*/virtualMachines/", "count": 1, "status": 429},
                     {"operation": "^DELETE .*/virtualMachines/", "count": 1, "status": 503}]}
    assert requests.post(faults, json=plan, verify=lab["ca_file"], timeout=10).ok
    try:
        with pytest.raises(HttpResponseError) as throttled:  # what the steps' clients are answered
            list(azure().network.virtual_networks.list("rg-hub", retry_total=0))
        assert throttled.value.status_code == 429
        assert throttled.value.response.headers.get("Retry-After") == "1", throttled.value.response.headers
        assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
        assert outcomes(run_step("test", [vm], step_env, tmp_path / "test.log")) == {vm: "test-migrated"}
        assert set(target_resources(f"{vm}-test").values()) == {1}
        assert outcomes(run_step("cleanup", [vm], step_env, tmp_path / "cleanup.log")) == {vm: "cleaned"}
        cut = run_step("cutover", [vm], step_env, tmp_path / "cutover.log")
        injected = requests.get(faults, verify=lab["ca_file"], timeout=10).json()
    finally:
        requests.post(faults, json={}, verify=lab["ca_file"], timeout=10)
    assert injected["next"] == [], f"not every planned fault was answered: {injected['next']}"
    assert injected["injected"] > 2
    assert outcomes(cut) == {vm: "migrated"}, cut
    assert_disks_verified(vm, cut["vms"][0])
    assert set(target_resources(vm).values()) == {1}, target_resources(vm)


def test_azurite_stopped_and_started_again_in_the_middle_of_a_delta_cycle(
    lab: dict, step_env: dict[str, str], tmp_path: Path
) -> None:
    vm = "rel-azurite-01"
    write_guest(lab, vm, 0, os.urandom(2 * MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
    churn_guest(lab, vm, 50.0, seed=3)
    store = StateStore.for_account(CACHE)
    # 2 MB/s: the cycle's 8 MiB take seconds, long enough to be caught with some of them sent.
    child = start_step("delta", [vm], step_env | {"VMSHIFT_BANDWIDTH_MB_S": "2"}, tmp_path / "delta.log")
    deadline = time.monotonic() + 120
    while not 0 < percent_done(store, vm) < 100:  # the cycle has bytes in the replica, and more to send
        assert child.poll() is None and time.monotonic() < deadline, "the delta cycle ended before it was caught"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGSTOP)  # frozen in the middle of the cycle while Azurite goes away
    blob = lab["azurite"]["blob_endpoint"].format(account="")
    argv, env = command_of("azurite")
    process.stop(part("azurite"))
    served_before = part("azurite").log_file.stat().st_size  # Azurite's access log: what it served until now
    os.killpg(child.pid, signal.SIGCONT)
    time.sleep(3)
    process.start(part("azurite"), argv, env)
    wait_answering(blob, lab["ca_file"])
    first = finish_step(child, tmp_path / "delta.log")

    if outcomes(first) == {vm: "protected"}:  # the cycle lived through the outage: its replica writes went on after
        served_after = part("azurite").log_file.read_bytes()[served_before:].decode(errors="replace")
        assert f"PUT /{CACHE}/{ReplicationSettings.from_env(CACHE).replica_container}/{vm}/" in served_after
    else:
        assert re.search(r"Service(Request|Response)Error|Connection refused|Connection reset",
                         first["vms"][0]["error"] or ""), first
    protected_after_retry("delta", vm, step_env, tmp_path / "again.log", first)
    assert replica_equal(vm)


def test_vcsim_restarted_between_cycles(lab: dict, step_env: dict[str, str], tmp_path: Path) -> None:
    vm = "rel-vcsim-01"
    write_guest(lab, vm, 0, os.urandom(MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
    argv, _ = command_of("vcenter")
    ready = Path(argv[argv.index("-ready-file") + 1])
    ready.unlink(missing_ok=True)
    port = urlparse(lab["vcenter"]["url"]).port
    restart("vcenter", {"-listen": f"127.0.0.1:{port}"})
    process.wait_ready_file(part("vcenter"), ready, 60)

    churn_guest(lab, vm, 10.0, seed=5)
    first = run_step("delta", [vm], step_env, tmp_path / "delta.log")
    protected_after_retry("delta", vm, step_env, tmp_path / "again.log", first)
    assert replica_equal(vm)


def test_the_dns_answer_turning_public_between_cycles_stops_replication_until_fixed(
    lab: dict, owner: AzureClients, step_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vm = "rel-dns-01"
    write_guest(lab, vm, 0, os.urandom(MIB))
    assert outcomes(run_step("replicate", [vm], step_env, tmp_path / "replicate.log")) == {vm: "protected"}
    links = owner.privatedns.virtual_network_links  # someone removes the link: vmshift itself never does
    hub = next(link for link in links.list("rg-hub", ZONE)
               if link.virtual_network.id.lower().endswith("/virtualnetworks/vnet-hub"))
    links.begin_delete("rg-hub", ZONE, hub.name).result()
    try:
        churn_guest(lab, vm, 10.0, seed=9)
        before = replica_record(vm)
        stopped = run_step("delta", [vm], step_env, tmp_path / "delta.log")
        # The cutover asks the gate too, before any shutdown: its final delta would write through a public address.
        refused = run_step("cutover", [vm], step_env, tmp_path / "cutover.log")
        by_hand = main(["replicate", "--vm", vm, "--cache-account", CACHE])  # the CLI's one cycle, too
        after = replica_record(vm)
    finally:  # the link back, as migrate-wave's private DNS step makes it (also for the tests after this one)
        relinked = run_step("replicate", [vm], step_env, tmp_path / "relink.log")
    assert outcomes(stopped) == {vm: "failed"}, stopped
    error = stopped["vms"][0]["error"]
    assert error.startswith(f"replication paused: zone not linked: {CACHE}.blob.core.windows.net resolved "), error
    assert error.endswith(f"(a public address) because the private DNS zone {ZONE} is not linked to the appliance's "
                          "VNet; add a virtual network link from the zone to that VNet"), error
    assert after == before  # no recovery point added, no replica blob written or snapshotted
    assert outcomes(refused) == {vm: "refused"}, refused
    gate = f"the DNS gate of {CACHE} is closed, and the final delta writes to it: zone not linked: "
    assert refused["vms"][0]["error"].startswith(f"{gate}{CACHE}.blob.core.windows.net resolved "), refused
    assert source_power(vm) == "poweredOn" and not target_resources(vm)  # nothing shut down, nothing built
    assert by_hand == 1 and f"{vm}: nothing replicated: the DNS gate of {CACHE} is closed: zone not linked" in \
        capsys.readouterr().err
    assert outcomes(relinked) == {vm: "protected"}
    assert outcomes(run_step("delta", [vm], step_env, tmp_path / "after.log")) == {vm: "protected"}
    assert replica_equal(vm)
