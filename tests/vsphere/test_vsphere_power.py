"""Power operations as cutover uses them, including guests that do not shut down when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pyVmomi import vim

from vmshift.lab.guest import GuestWriteFailed, set_guest_shutdown
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import PowerOperationFailed
from vmshift.vsphere.inventory import find_vm
from vmshift.vsphere.power import power_off, power_on, shutdown_guest

VM = "vsphere-lib-01"


@pytest.fixture
def lib_vm(session: VSphereSession) -> Iterator[vim.VirtualMachine]:
    """The test's VM, running again afterwards: other tests write as its guest."""
    vm = find_vm(session, VM)
    yield vm
    power_on(session, vm)


@pytest.fixture
def guest_shutdown(lab: dict, lib_vm: vim.VirtualMachine) -> Iterator[Callable[[str], None]]:
    """Make the VM's guest hang on a shutdown request, or lose its VMware Tools; a normal guest afterwards."""
    yield lambda behaviour: set_guest_shutdown(lab, VM, behaviour)
    set_guest_shutdown(lab, VM, "normal")


def test_a_guest_shutdown_takes_a_while_and_shutdown_guest_returns_only_once_the_vm_is_off(session, lib_vm):
    lib_vm.ShutdownGuest()  # returns at once, as on vSphere: the guest OS is still shutting down
    assert lib_vm.runtime.powerState == "poweredOn"

    assert shutdown_guest(session, lib_vm, timeout_s=60, power_off_after=False) is True
    assert lib_vm.runtime.powerState == "poweredOff"


def test_guest_shutdown_waits_until_the_vm_is_off_and_power_on_brings_it_back(session, lib_vm):
    shutdown_guest(session, lib_vm, timeout_s=60, power_off_after=False)
    assert lib_vm.runtime.powerState == "poweredOff"

    power_on(session, lib_vm)
    assert lib_vm.runtime.powerState == "poweredOn"

    power_off(session, lib_vm)
    assert lib_vm.runtime.powerState == "poweredOff"


def test_a_hung_guest_is_powered_off_once_the_shutdown_timeout_passes(session, lib_vm, guest_shutdown, caplog):
    guest_shutdown("ignore")

    assert shutdown_guest(session, lib_vm, timeout_s=2, power_off_after=True) is True
    assert lib_vm.runtime.powerState == "poweredOff"
    assert f"{VM} was asked to shut down but is still poweredOn after 2 s; powering it off hard" in caplog.messages


def test_a_hung_guest_without_power_off_after_fails_naming_the_vm_and_timeout_and_stays_on(
        session, lib_vm, guest_shutdown):
    guest_shutdown("ignore")

    with pytest.raises(PowerOperationFailed, match=rf"{VM} was asked to shut down but is still poweredOn after 2 s"):
        shutdown_guest(session, lib_vm, timeout_s=2, power_off_after=False)
    assert lib_vm.runtime.powerState == "poweredOn"


def test_vcenter_refuses_a_guest_shutdown_without_vmware_tools_and_shows_them_missing(lib_vm, guest_shutdown):
    assert lib_vm.guest.toolsRunningStatus == "guestToolsRunning"
    guest_shutdown("no-tools")

    assert lib_vm.guest.toolsStatus == "toolsNotInstalled"
    assert lib_vm.guest.toolsRunningStatus == "guestToolsNotRunning"
    with pytest.raises(vim.fault.ToolsUnavailable, match="VMware Tools is not running"):
        lib_vm.ShutdownGuest()
    assert lib_vm.runtime.powerState == "poweredOn"


def test_a_guest_without_vmware_tools_is_powered_off_hard_at_once(session, lib_vm, guest_shutdown, caplog):
    guest_shutdown("no-tools")

    # A timeout longer than the test: nothing is waited for, vCenter refused the request outright.
    assert shutdown_guest(session, lib_vm, timeout_s=3600, power_off_after=True) is True
    assert lib_vm.runtime.powerState == "poweredOff"
    assert (f"VMware Tools are not running in the guest of {VM}, so vSphere cannot ask it to shut down; "
            "powering it off hard") in caplog.messages


def test_a_guest_without_vmware_tools_and_without_power_off_after_fails_saying_what_to_do(
        session, lib_vm, guest_shutdown):
    guest_shutdown("no-tools")

    with pytest.raises(PowerOperationFailed) as failure:
        shutdown_guest(session, lib_vm, timeout_s=3600, power_off_after=False)
    assert str(failure.value) == (
        f"VMware Tools are not running in the guest of {VM}, so vSphere cannot ask it to shut down; it was left "
        "running. Shut it down from inside the guest, or allow a hard power off"
    )
    assert lib_vm.runtime.powerState == "poweredOn"


def test_the_lab_refuses_a_guest_shutdown_behaviour_it_does_not_know(lab):
    with pytest.raises(GuestWriteFailed, match=r'\(400\): value must be normal, ignore or no-tools, got "sleep"'):
        set_guest_shutdown(lab, VM, "sleep")
