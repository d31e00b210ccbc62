"""The vSphere library's tests run against the lab's vCenter (vcsim with our extension) through pyvmomi.

Until the session-wide `lab` fixture of tests/conftest.py brings the whole lab up, this folder starts only
the vCenter part and hands out the same lab.json shape.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmshift.lab.ca import ensure_certificates
from vmshift.lab.vcsim_build import DEFAULT_CACHE, build_vcsim, running_vcsim
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect

TEST_SPEC = Path(__file__).parents[1] / "lab-spec.json"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """lab.json's shape, with only the vcenter part."""
    folder = tmp_path_factory.mktemp("vcenter-lab")
    certs = ensure_certificates(folder / "ca")
    password = secrets.token_urlsafe(18)
    binary = build_vcsim(DEFAULT_CACHE)
    with running_vcsim(binary, TEST_SPEC, certs.cert_file, certs.key_file, folder / "vcenter", password) as ready:
        yield {"healthy": True, "ca_file": str(certs.ca_file),
               "vcenter": {**ready, "password": password, "healthy": True}}


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
