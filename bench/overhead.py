"""What Prefect costs per VM, as bench/orchestration.py and bench/scale.py measure it: the wall time of the wave
through Prefect less that of the same step calls in a plain loop (a thread pool of the same concurrency),
divided by the VMs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from vmshift.migration import connections, private_link
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.state.lifecycle import Actor, Step
from vmshift.vsphere.facts import facts_from_inventory

PLAIN_LOOP = Actor("bench plain loop")  # who takes the plain loop's replicate steps


def overhead_per_vm(dag_s: float, plain_s: float, vms: int) -> float:
    """Seconds per VM that the wave through Prefect took beyond the plain loop."""
    return (dag_s - plain_s) / vms


def plain_loop(wave: Wave, appliance: Appliance, concurrency: int) -> float:
    """The same step calls without Prefect: gate first, then every VM's cycle in a thread pool; its seconds."""
    started = time.monotonic()
    account, region = wave.vms[0].cache_storage_account, wave.vms[0].region
    endpoint = private_link.reach_endpoint(account, region, appliance)
    private_link.setup_private_dns(endpoint, appliance)
    private_link.check_gate(account, endpoint, appliance)
    facts_from_inventory(connections.read_inventory([vm.source_vm for vm in wave.vms]))
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda vm: connections.run_cycle(vm.source_vm, vm.cache_storage_account, threading.Event(),
                                                       lambda percent: None, Step.REPLICATE, PLAIN_LOOP), wave.vms))
    return time.monotonic() - started
