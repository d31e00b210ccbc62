"""Power operations, with the wait for a guest shutdown that cutover needs."""

from __future__ import annotations

import time
from collections.abc import Callable

from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import PowerOperationFailed
from vmshift.vsphere.tasks import fault_text, wait_for_task

POLL_INTERVAL_S = 0.5
OFF = vim.VirtualMachinePowerState.poweredOff
ON = vim.VirtualMachinePowerState.poweredOn


def shutdown_guest(session: VSphereSession, vm: vim.VirtualMachine, timeout_s: float,
                   power_off_after: bool = True) -> bool:
    """Ask the guest OS to shut down and wait until the VM is off; past the timeout, power it off (or fail).
    False when the VM was off already."""
    if vm.runtime.powerState == OFF:
        return False
    try:
        vm.ShutdownGuest()
    except vmodl.MethodFault as fault:
        if not power_off_after:
            raise PowerOperationFailed(f"guest shutdown of {vm.name} refused: {fault_text(fault)}") from fault
        power_off(session, vm)
        return True
    deadline = time.monotonic() + timeout_s
    while vm.runtime.powerState != OFF:
        if time.monotonic() > deadline:
            if not power_off_after:
                raise PowerOperationFailed(f"{vm.name} did not shut down within {timeout_s:.0f} s")
            power_off(session, vm)
            return True
        time.sleep(POLL_INTERVAL_S)
    return True


def power_off(session: VSphereSession, vm: vim.VirtualMachine) -> None:
    """Hard power off; a VM already off is left as it is."""
    _power(session, vm, OFF, vm.PowerOffVM_Task, "power off")


def power_on(session: VSphereSession, vm: vim.VirtualMachine) -> None:
    """Power on; a VM already on is left as it is."""
    _power(session, vm, ON, vm.PowerOnVM_Task, "power on")


def _power(session: VSphereSession, vm: vim.VirtualMachine, target: str, start: Callable[[], vim.Task],
           what: str) -> None:
    if vm.runtime.powerState == target:
        return
    try:
        wait_for_task(session, start())
    except vmodl.MethodFault as fault:
        raise PowerOperationFailed(f"{what} of {vm.name} failed: {fault_text(fault)}") from fault
