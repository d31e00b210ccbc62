"""A wave plan is a contract, carried out column by column (issue 14): a wave whose VMs go to two subscriptions,
one VM with two NICs and a data disk the plan leaves out, a SQL Server VM with Azure Hybrid Benefit, a hook of
one VM's own. What ARM holds afterwards is listed through the SDK as the subscriptions' owner, not read from
vmshift's own records.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError

from flows.cleanup_test_migration import cleanup_test_migration
from flows.cutover import cutover
from flows.migrate_wave import migrate_wave
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.clients import AzureClients
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.plan.hooks import HOOKS_FILE_ENV, load_hooks
from vmshift.plan.schema import Wave
from vmshift.plan.validation import validate_plan
from vmshift.state.document import VERIFICATION_PASSED
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
MULTI, SQL = "plan-multi-01", "plan-sql-01"
SPOKE_GROUP = "rg-spoke"
LEFT_OUT = b"on the data disk the plan leaves out" * 21846  # 768 KiB the cycle must never read
KEPT = b"on the OS disk" * 4681  # 64 KiB

COLUMNS = ("wave,source_vm,target_subscription,region,resource_group,cache_storage_account,target_vnet,target_subnet,"
           "test_vnet,test_subnet,os_type,disks,hybrid_benefit,sql_license,nics,cutover_window,hooks,prepare_os")


def plan_file(folder: Path, first: str, second: str) -> Path:
    """plan-multi-01 in the second subscription with its two NICs and only disk 1; plan-sql-01 in the first. The
    lab's blank disks hold no guest to prepare: prepare_os no, as in examples/waves.csv."""
    now = datetime.now(UTC)
    window = f"{(now - timedelta(hours=1)).isoformat()}/{(now + timedelta(hours=3)).isoformat()}"
    rows = [
        f"plan-lab,{MULTI},{second},westeurope,{SPOKE_GROUP},{CACHE},vnet-spoke,snet-app,vnet-spoke-test,snet-app,"
        "linux,1,no,,1:Primary:snet-app:10.40.1.20:10.50.1.20:snet-app;2:Secondary:snet-data:10.40.2.20:10.50.2.20:"
        f"snet-data,{window},pre-cutover=record-facts,no",
        f"plan-lab,{SQL},{first},westeurope,rg-target,{CACHE},vnet-target,snet-data,vnet-test,snet-isolated,windows,"
        f",yes,AHUB,1:Primary:snet-data:10.20.2.30:10.30.2.30:snet-isolated,{window},,no",
    ]
    path = folder / "plan.csv"
    path.write_text("\n".join([COLUMNS, *rows]) + "\n", encoding="utf-8")
    return path


def hooks_file(folder: Path, records: Path) -> Path:
    """The appliance's hooks: one that writes the facts it is given where the test can read them."""
    path = folder / "hooks.toml"
    path.write_text('[hooks.record-facts]\ncommand = ["sh", "-c", "cat > \\"$0/$VMSHIFT_HOOK_VM-$VMSHIFT_HOOK_MOMENT'
                    f'.json\\"", "{records}"]\nmoments = ["pre-cutover"]\n', encoding="utf-8")
    path.chmod(0o600)
    return path


def outcomes(result: dict) -> dict[str, str]:
    return {row["vm"]: row["outcome"] for row in result["vms"]}


def nics_of(clients: AzureClients, group: str, vm_name: str) -> list[tuple[str, str, bool]]:
    """(subnet ID, private IP, primary) of each NIC of the VM, in the VM's order."""
    vm = clients.compute.virtual_machines.get(group, vm_name)
    found = []
    for reference in vm.network_profile.network_interfaces:
        nic = clients.network.network_interfaces.get(group, reference.id.rsplit("/", 1)[1])
        config = nic.ip_configurations[0]
        found.append((config.subnet.id, config.private_ip_address, bool(nic.primary)))
    return found


def subnet(subscription: str, group: str, vnet: str, name: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}"
            f"/subnets/{name}")


def test_a_wave_lands_each_vm_in_its_subscription_with_its_nics_disks_sql_licence_and_hook(
    lab: dict, owner: AzureClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = lab["arm"]["subscriptions"]
    records = tmp_path / "hook-records"
    records.mkdir()
    hooks = hooks_file(tmp_path, records)
    monkeypatch.setenv(HOOKS_FILE_ENV, str(hooks))
    plan = validate_plan(plan_file(tmp_path, first, second), hooks=load_hooks(hooks),
                         start_at=datetime.now(UTC) + timedelta(minutes=1)).raise_for_errors()
    wave: Wave = plan.waves[0]
    appliance = Appliance()
    disks = sorted(inventory.vm_disks(inventory.find_vm(connect(VCenterConfig.from_env()), MULTI)),
                   key=lambda disk: disk.key)
    write_guest(lab, MULTI, 0, KEPT, disk_key=disks[0].key)
    write_guest(lab, MULTI, 0, LEFT_OUT, disk_key=disks[1].key)

    replicated = asyncio.run(migrate_wave(wave, appliance))
    assert outcomes(replicated) == {MULTI: "protected", SQL: "protected"}, replicated
    assert {row["vm"]: row["disks_left_out"] for row in replicated["vms"]} == {MULTI: "Hard disk 2", SQL: ""}
    sent = {row["vm"]: row["bytes_sent"] for row in replicated["vms"]}
    # The OS disk's 64 KiB went (in whole chunks); the 768 KiB of the left-out disk did not.
    assert len(KEPT) <= sent[MULTI] < len(LEFT_OUT), sent
    state = StateStore.for_account(CACHE).load(MULTI).state
    assert state.included_disks == [disks[0].key] and list(state.disks) == [str(disks[0].key)]

    tested = asyncio.run(run_test_migrate(wave, appliance=appliance))
    assert outcomes(tested) == {MULTI: "test-migrated", SQL: "test-migrated"}, tested
    spoke = owner.for_subscription(second)
    assert nics_of(spoke, SPOKE_GROUP, f"{MULTI}-test") == [
        (subnet(second, SPOKE_GROUP, "vnet-spoke-test", "snet-app"), "10.50.1.20", True),
        (subnet(second, SPOKE_GROUP, "vnet-spoke-test", "snet-data"), "10.50.2.20", False)]
    assert outcomes(asyncio.run(cleanup_test_migration(wave))) == {MULTI: "cleaned", SQL: "cleaned"}

    migrated = asyncio.run(cutover(wave, appliance=appliance, shutdown_timeout_s=5))
    assert outcomes(migrated) == {MULTI: "migrated", SQL: "migrated"}, migrated
    # Proven whole after the outage, from the frozen copies beside each VM, in its own subscription.
    assert all(row["verification"] == VERIFICATION_PASSED and not row["error"] for row in migrated["vms"]), migrated

    # The second subscription holds plan-multi-01: its NICs in the planned subnets and IPs, primary first, and
    # its OS disk alone; the first holds nothing of it.
    assert nics_of(spoke, SPOKE_GROUP, MULTI) == [
        (subnet(second, SPOKE_GROUP, "vnet-spoke", "snet-app"), "10.40.1.20", True),
        (subnet(second, SPOKE_GROUP, "vnet-spoke", "snet-data"), "10.40.2.20", False)]
    built = spoke.compute.virtual_machines.get(SPOKE_GROUP, MULTI)
    assert built.storage_profile.data_disks == []
    assert [disk.id.lower() for disk in spoke.compute.disks.list_by_resource_group(SPOKE_GROUP)] == \
        [built.storage_profile.os_disk.managed_disk.id.lower()]
    assert MULTI not in {vm.name for vm in owner.compute.virtual_machines.list_all()}
    with pytest.raises(ResourceNotFoundError):
        spoke.sql_virtual_machines.sql_virtual_machines.get(SPOKE_GROUP, MULTI)

    # The first holds plan-sql-01 with its SQL Server VM resource, Azure Hybrid Benefit.
    assert nics_of(owner, "rg-target", SQL) == [(subnet(first, "rg-target", "vnet-target", "snet-data"),
                                                 "10.20.2.30", True)]
    sql_vm = owner.sql_virtual_machines.sql_virtual_machines.get("rg-target", SQL)
    assert sql_vm.properties.sql_server_license_type == "AHUB"
    assert sql_vm.properties.virtual_machine_resource_id.lower() == \
        owner.compute.virtual_machines.get("rg-target", SQL).id.lower()
    assert sql_vm.id in next(row for row in migrated["vms"] if row["vm"] == SQL)["resources"]

    # The hook ran for its VM alone, at its moment, with the VM's facts (its subscription among them).
    assert sorted(path.name for path in records.iterdir()) == [f"{MULTI}-pre-cutover.json"]
    facts = json.loads((records / f"{MULTI}-pre-cutover.json").read_text())
    assert (facts["vm"], facts["subscription"], facts["moment"]) == (MULTI, second, "pre-cutover")
