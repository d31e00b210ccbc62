"""Power operations as cutover uses them."""

from __future__ import annotations

from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.power import power_off, power_on, shutdown_guest

VM = "vsphere-lib-01"


def test_a_guest_shutdown_takes_a_while_and_shutdown_guest_returns_only_once_the_vm_is_off(session):
    vm = find_vm(session, VM)
    try:
        vm.ShutdownGuest()  # returns at once, as on vSphere: the guest OS is still shutting down
        assert vm.runtime.powerState == "poweredOn"

        assert shutdown_guest(session, vm, timeout_s=60, power_off_after=False) is True
        assert vm.runtime.powerState == "poweredOff"
    finally:
        power_on(session, vm)  # other tests write as this VM's guest


def test_guest_shutdown_waits_until_the_vm_is_off_and_power_on_brings_it_back(session):
    vm = find_vm(session, VM)
    try:
        shutdown_guest(session, vm, timeout_s=60, power_off_after=False)
        assert vm.runtime.powerState == "poweredOff"

        power_on(session, vm)
        assert vm.runtime.powerState == "poweredOn"

        power_off(session, vm)
        assert vm.runtime.powerState == "poweredOff"
    finally:
        power_on(session, vm)  # other tests write as this VM's guest
