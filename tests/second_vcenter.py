"""A second vCenter beside the session's lab, for tests of estates with several: its own vcsim, inventory, user
and password, the lab's CA, configured as the lab's launcher configures several vCenters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vmshift.lab.ca import ensure_certificates
from vmshift.lab.spec import load_spec
from vmshift.lab.vcenter_role import role_held
from vmshift.lab.vcsim_build import DEFAULT_CACHE, build_vcsim, running_vcsim
from vmshift.vsphere.connection import vcenter_env_key
from vmshift.vsphere.privileges import ROLE_NAME


def one_vm_vcenter(name: str, site: str, vm: str, firmware: str, capacity_mib: int) -> dict:
    """The spec of a vCenter of one datacenter (DC-<site>), one host and one datastore, holding one VM."""
    host, datastore = f"esx-{site.lower()}1.lab.local", f"ds-{site.lower()}-01"
    return {"vcenter": {
        "name": name, "datacenter": f"DC-{site}", "user": f"svc-vmshift-{site.lower()}@vsphere.local",
        "clusters": [{"name": f"Cluster-{site}", "hosts": [host]}],
        "datastores": [{"name": datastore, "capacity_gib": 512}], "networks": ["VM Network"],
        "vms": [{"name": vm, "guest_id": "rhel8_64Guest", "firmware": firmware, "cpus": 1, "memory_mib": 1024,
                 "power_state": "poweredOn", "host": host, "datastore": datastore,
                 "disks": [{"capacity_mib": capacity_mib}], "nics": [{"network": "VM Network"}]}],
    }}


@contextmanager
def second_vcenter_running(lab: dict, folder: Path, spec: dict, privileges: list[str]) -> Iterator[dict]:
    """The vCenter `spec` describes, running and configured (VMSHIFT_VCENTERS and its own VMSHIFT_VCENTER_<KEY>_*),
    its user holding the documented role with `privileges`: its lab.json-shaped entry."""
    name = spec["vcenter"]["name"]
    certs = ensure_certificates(Path(lab["ca_file"]).parent)
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec))
    spec_file.write_text(load_spec(spec_file).model_dump_json(exclude_none=True))  # the role filled in, as the
    password = "second-vcenter-password"  # launcher does
    with running_vcsim(build_vcsim(DEFAULT_CACHE), spec_file, certs.cert_file, certs.key_file, folder / "vcenter",
                       password) as ready, pytest.MonkeyPatch.context() as patch:
        entry = {**ready, "name": name, "password": password}
        patch.setenv("VMSHIFT_VCENTERS", f"{lab['vcenter']['name']},{name}")
        for field in ("URL", "USER", "PASSWORD", "DATACENTER"):
            patch.setenv(f"VMSHIFT_VCENTER_{vcenter_env_key(name)}_{field}", entry[field.lower()])
        with role_held({"vcenter": entry, "ca_file": lab["ca_file"]}, ROLE_NAME, privileges):
            yield entry
