"""Ansible (PyPI ansible, .cache/clients/ansible, with the community.vmware and azure.azcollection it bundles)
against the demo's lab: vCenter's VMs listed and a snapshot taken and removed, as pyVmomi sees them; the migrated
VM read through ARM, in the cloud the lab's /metadata/endpoints describes, as the Python SDK reads it.

Gotchas, each met here:
- Ansible runs modules with the interpreter it discovers (the system's python3, without pyVmomi or the Azure SDKs):
  ANSIBLE_PYTHON_INTERPRETER names the venv's.
- Two CA settings: community.vmware and azure-cli-core's metadata download go through Python's ssl default
  context, which reads SSL_CERT_FILE; the Azure SDK's calls go through requests, which reads REQUESTS_CA_BUNDLE.
- A cloud other than Azure's four: ARM_CLOUD_METADATA_URL (read by azure-cli-core, a list-shaped api-version)
  describes it, and `cloud_environment` names it by its ARM endpoint. The azure.azcollection of Ansible 12 (3.12)
  fails there instead ('AttributeError' object has no attribute 'message', ansible-collections/azure#2157),
  hence Ansible 13+, on Python 3.12.
- HOME, ANSIBLE_HOME, AZURE_CONFIG_DIR and the temporary folders are this run's own: azure.azcollection reads
  ~/.azure/credentials when there is one, azure-cli-core caches the clouds it read (cloudEndpoints.json), and
  nothing of an earlier run (another lab's endpoints) is picked up.
- Instance discovery off (AZURE_DISABLE_INSTANCE_DISCOVERY), as for every client of the lab's authority.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from . import resource_views as view
from .demo_lab import ArmLog, Built, Demo, PythonSdk, client_tool

pytestmark = [pytest.mark.lab, pytest.mark.clients]

PLAYBOOKS = Path(__file__).with_name("ansible")
PLAYBOOK_TIMEOUT_S = 600
SNAPSHOT_VM = "app-linux-01"  # of wave-2, which the demo leaves alone
SNAPSHOT = "before-cutover-ansible"
# azure-cli-core reads ARM_CLOUD_METADATA_URL as a list of clouds, the shape of 2019-05-01 and later.
METADATA_API_VERSION = "2020-06-01"


@pytest.fixture(scope="module")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ansible-home")
    return {
        "PATH": os.environ["PATH"], "HOME": str(home), "ANSIBLE_HOME": str(home / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"), "ANSIBLE_REMOTE_TEMP": str(home / "tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": str(client_tool("ansible", "bin/python")),
        "ANSIBLE_NOCOLOR": "true", "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }


def play(name: str, env: dict[str, str], folder: Path, **variables: str) -> dict | list:
    """Run one playbook of tests/clients/ansible on localhost; what it wrote to its result file."""
    result = folder / f"{name}-result.json"
    result.unlink(missing_ok=True)
    done = subprocess.run(
        [str(client_tool("ansible", "bin/ansible-playbook")), "-i", "localhost,", str(PLAYBOOKS / f"{name}.yml"),
         "--extra-vars", json.dumps({**variables, "result_file": str(result)})],
        env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"ansible-playbook {name}.yml failed:\n{(done.stdout + done.stderr)[-3000:]}"
    return json.loads(result.read_text())


def vcenter_env(demo: Demo) -> dict[str, str]:
    vcenter, address = demo.lab["vcenter"], urlsplit(demo.lab["vcenter"]["url"])
    return {"VMWARE_HOST": address.hostname, "VMWARE_PORT": str(address.port), "VMWARE_USER": vcenter["user"],
            "VMWARE_PASSWORD": vcenter["password"], "SSL_CERT_FILE": demo.lab["ca_file"]}


def pyvmomi_view(demo: Demo) -> dict[str, dict]:
    """Each VM as pyVmomi reads it from the same vCenter: power state, moref, BIOS UUID, snapshot names."""
    vcenter, address = demo.lab["vcenter"], urlsplit(demo.lab["vcenter"]["url"])
    context = ssl.create_default_context(cafile=demo.lab["ca_file"])
    si = SmartConnect(host=address.hostname, port=address.port, user=vcenter["user"], pwd=vcenter["password"],
                      sslContext=context)
    try:
        content = si.RetrieveContent()
        vms = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True).view
        return {vm.name: {"power_state": str(vm.runtime.powerState), "moid": vm._moId, "uuid": vm.config.uuid,
                          "snapshots": _snapshot_names(vm.snapshot.rootSnapshotList if vm.snapshot else [])}
                for vm in vms}
    finally:
        Disconnect(si)


def _snapshot_names(tree: list) -> list[str]:
    return [name for node in tree for name in (node.name, *_snapshot_names(node.childSnapshotList))]


def test_vmware_vm_info_lists_the_vms_pyvmomi_sees_and_a_snapshot_is_taken_and_removed(
        demo: Demo, ansible_env: dict[str, str], tmp_path: Path) -> None:
    env = ansible_env | vcenter_env(demo)
    settings = {"datacenter": demo.lab["vcenter"]["datacenter"], "vm": SNAPSHOT_VM, "snapshot": SNAPSHOT}

    taken = play("vcenter", env, tmp_path, snapshot_state="present", **settings)
    seen = pyvmomi_view(demo)
    listed = {vm["guest_name"]: {"power_state": vm["power_state"], "moid": vm["moid"], "uuid": vm["uuid"]}
              for vm in taken["virtual_machines"]}
    assert listed == {name: {k: v for k, v in vm.items() if k != "snapshots"} for name, vm in seen.items()}
    assert taken["snapshot"]["changed"] is True
    assert SNAPSHOT in seen[SNAPSHOT_VM]["snapshots"]

    removed = play("vcenter", env, tmp_path, snapshot_state="absent", **settings)
    assert removed["snapshot"]["changed"] is True
    assert SNAPSHOT not in pyvmomi_view(demo)[SNAPSHOT_VM]["snapshots"]


def test_azure_rm_virtualmachine_info_reads_the_migrated_vm_as_the_python_sdk_does(
        demo: Demo, ansible_env: dict[str, str], python_sdk: PythonSdk, built: Built, tmp_path: Path) -> None:
    arm = demo.lab["arm"]
    env = ansible_env | {
        # The team's own identity (the lab's administrator app): vmshift's app holds only what vmshift calls, and
        # Ansible reads the VM's instance view too (virtualMachines/instanceView/read).
        "AZURE_CLIENT_ID": arm["admin_client_id"], "AZURE_SECRET": arm["admin_client_secret"],
        "AZURE_TENANT": arm["tenant_id"],
        "AZURE_SUBSCRIPTION_ID": arm["subscription_id"], "AZURE_CLOUD_ENVIRONMENT": arm["endpoint"],
        "ARM_CLOUD_METADATA_URL": f"{arm['endpoint']}/metadata/endpoints?api-version={METADATA_API_VERSION}",
        "AZURE_DISABLE_INSTANCE_DISCOVERY": "true", "AZURE_CONFIG_DIR": str(tmp_path / "azure"),
        "SSL_CERT_FILE": demo.lab["ca_file"], "REQUESTS_CA_BUNDLE": demo.lab["ca_file"],
    }
    log = ArmLog(demo)
    vms = play("azure", env, tmp_path, resource_group=built.group, vm=built.vm)
    assert [request for request in log.sent() if request.status >= 400] == []

    expected = view.virtual_machine(python_sdk.virtual_machine(built))
    assert len(vms) == 1
    found = vms[0]
    assert (found["id"], found["name"], found["location"], found["vm_size"], found["tags"]) == \
        (expected["id"], expected["name"], expected["location"], expected["vmSize"], expected["tags"])
    assert found["os_disk"]["managed_disk"]["id"] == expected["osDisk"][1]
    assert sorted((d["lun"], d["name"], d["managed_disk_id"]) for d in found["data_disks"]) == expected["dataDisks"]
    assert [nic.split("/")[-1] for nic in expected["networkInterfaces"]] == found["network_interface_names"]
    statuses = python_sdk.compute.virtual_machines.instance_view(built.group, built.vm).statuses
    assert [f"PowerState/{found['power_state']}"] == [s.code for s in statuses if s.code.startswith("PowerState/")]
