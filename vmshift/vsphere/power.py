"""Power operations, with the wait for a guest shutdown that cutover needs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import PowerOperationFailed
from vmshift.vsphere.tasks import fault_text, wait_for_task

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
OFF = vim.VirtualMachinePowerState.poweredOff
ON = vim.VirtualMachinePowerState.poweredOn


def shutdown_guest(session: VSphereSession, vm: vim.VirtualMachine, timeout_s: float,
                   power_off_after: bool = True) -> bool:
    """Ask the guest OS to shut down and wait until the VM is off. A guest that is still on after timeout_s,
    or that cannot be asked (no VMware Tools running), is powered off hard if power_off_after, else this fails
    and leaves it running. False when the VM was off already."""
    if vm.runtime.powerState == OFF:
        return False
    try:
        vm.ShutdownGuest()
    except vmodl.MethodFault as fault:
        if isinstance(fault, vim.fault.ToolsUnavailable):
            reason = f"VMware Tools are not running in the guest of {vm.name}, so vSphere cannot ask it to shut down"
            remedy = "Shut it down from inside the guest, or allow a hard power off"
        else:
            reason = f"guest shutdown of {vm.name} refused: {fault_text(fault)}"
            remedy = "Fix what vCenter names, or allow a hard power off"
        if not power_off_after:
            raise PowerOperationFailed(f"{reason}; it was left running. {remedy}") from fault
        log.warning("%s; powering it off hard", reason)
        power_off(session, vm)
        return True
    deadline = time.monotonic() + timeout_s
    while vm.runtime.powerState != OFF:
        if time.monotonic() > deadline:
            reason = f"{vm.name} was asked to shut down but is still {vm.runtime.powerState} after {timeout_s:g} s"
            if not power_off_after:
                raise PowerOperationFailed(
                    f"{reason}; it was left running. Find what holds its guest OS, or allow a hard power off"
                )
            log.warning("%s; powering it off hard", reason)
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
