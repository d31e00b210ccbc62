"""The vSphere library's tests run against the session lab's vCenter (vcsim with our extension) through pyvmomi."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect


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
