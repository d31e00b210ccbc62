"""Power operations as cutover uses them."""

from __future__ import annotations

from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.power import power_off, power_on, shutdown_guest

VM = "win-iis-03"


def test_guest_shutdown_waits_until_the_vm_is_off_and_power_on_brings_it_back(session):
    vm = find_vm(session, VM)
    power_on(session, vm)
    assert vm.runtime.powerState == "poweredOn"

    shutdown_guest(session, vm, timeout_s=60, power_off_after=False)
    assert vm.runtime.powerState == "poweredOff"

    power_on(session, vm)
    power_off(session, vm)
    assert vm.runtime.powerState == "poweredOff"
