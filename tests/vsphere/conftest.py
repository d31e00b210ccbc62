"""The vSphere library's tests run against the session lab's vCenter (vcsim with our extension) through pyvmomi."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pyVmomi import vim

from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect
from vmshift.vsphere.tasks import wait_for_task


@pytest.fixture
def config(lab: dict) -> VCenterConfig:
    """How the product is configured for this lab (what lab.env says)."""
    vcenter = lab["vcenter"]
    return VCenterConfig(url=vcenter["url"], user=vcenter["user"], password=vcenter["password"],
                         datacenter=vcenter["datacenter"], ca_file=lab["ca_file"])


@pytest.fixture
def session(config: VCenterConfig) -> Iterator[VSphereSession]:
    with connect(config) as opened:
        yield opened


@pytest.fixture
def reconfigure_cbt(session: VSphereSession) -> Callable[[vim.VirtualMachine, bool], None]:
    """Switch CBT as an admin does in the vSphere client: a bare ReconfigVM, without vmshift's activation."""
    def reconfigure(vm: vim.VirtualMachine, enabled: bool) -> None:
        wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(changeTrackingEnabled=enabled)))
    return reconfigure
