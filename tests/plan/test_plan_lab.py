"""The online checks against the lab's vCenter and ARM, through the same clients the CLI uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, errors_at, example_rows, write_rows

from vmshift.azure.permissions import OPERATOR_ROLE, REQUIRED_ACTIONS
from vmshift.lab.azure_roles import azure_role_assignments, azure_roles_held
from vmshift.lab.vcenter_role import role_held
from vmshift.migration.access import PLAN_STEPS, TargetPlace, azure_scopes, plan_conditions
from vmshift.migration.appliance import Appliance
from vmshift.migration.live_checks import LiveChecks, live_checks_from_env
from vmshift.plan import ReplicationState, parse_start_at, validate_plan
from vmshift.state.document import VmState
from vmshift.state.lifecycle import Actor, Step, advance
from vmshift.state.store import StateStore, StoredState
from vmshift.vsphere.privileges import ROLE_NAME, role_privileges

pytestmark = pytest.mark.lab


REPLICATING = {"web-rhel-02": ReplicationState("web-rhel-02", "vmshiftcacheeus", "eastus")}


@pytest.fixture(scope="module")
def live_checks(lab: dict) -> Iterator[LiveChecks]:
    """Checks against the lab; web-rhel-02 already replicates to East US."""
    with live_checks_from_env(REPLICATING.get) as checks:
        yield checks


def test_example_plan_passes_the_lab_checks(live_checks, tmp_path: Path):
    rows = example_rows()
    rows[1] |= {"cache_storage_account": "vmshiftcacheeus", "region": "eastus"}

    result = validate_plan(write_rows(tmp_path / "plan.csv", rows), checks=live_checks,
                           start_at=parse_start_at("now"))

    assert result.ok, result.errors
    assert [vm.source_vm for wave in result.plan.waves for vm in wave.vms] == [
        "win-sql-01", "web-rhel-02", "app-linux-01", "win-iis-03"]


def test_lab_refuses_unknown_vm_missing_disk_size_zone_and_a_moved_replication(live_checks, tmp_path: Path):
    rows = example_rows()
    rows[0] |= {"disks": "1;2;3"}
    rows[1] |= {"source_vm": "web-rhel-2", "target_vm_name": "web-rhel-2"}
    rows[2] |= {"vm_size": "Standard_M416ms_v2"}
    rows[3] |= {"availability_zone": "2", "region": "northcentralus", "vm_size": "Standard_D2s_v5"}
    plan = write_rows(tmp_path / "plan.csv", rows)

    result = validate_plan(plan, checks=live_checks, start_at=parse_start_at("now"))

    assert {(2, "disks"), (3, "source_vm"), (4, "vm_size"), (5, "availability_zone")} <= errors_at(result)
    assert "did you mean web-rhel-02" in next(e.message for e in result.errors if e.row == 3)


def test_lab_refuses_changing_the_cache_account_of_a_replicating_vm(live_checks):
    result = validate_plan(EXAMPLES / "waves.csv", checks=live_checks, start_at=parse_start_at("now"))

    assert {(3, "cache_storage_account"), (3, "region")} <= errors_at(result)


def test_a_vm_replicating_to_another_cache_account_is_found_in_the_storage_accounts(lab, tmp_path: Path):
    store = StateStore.for_account("vmshiftcacheeus")
    store.ensure_container()
    store.save(StoredState(VmState(vm="plan-moved-01", phase="protected"), None))
    rows = example_rows()[:1]
    rows[0] |= {"source_vm": "plan-moved-01", "target_vm_name": "plan-moved-01", "disks": ""}
    try:
        with live_checks_from_env() as checks:
            result = validate_plan(write_rows(tmp_path / "plan.csv", rows), checks=checks,
                                   start_at=parse_start_at("now"))
    finally:
        store.container.delete_blob(store.blob_name("plan-moved-01"))

    assert {(2, "cache_storage_account"), (2, "region")} <= errors_at(result)
    assert "already replicates to 'vmshiftcacheeus'" in next(
        e.message for e in result.errors if e.column == "cache_storage_account")


SPOKE = "00000000-2222-4333-8444-555555555555"


def test_lab_refuses_a_subscription_out_of_reach_and_a_vnet_not_in_the_vms_subscription(lab, live_checks,
                                                                                     tmp_path: Path):
    rows = example_rows()
    spoke = {"target_subscription": SPOKE, "resource_group": "rg-spoke", "target_vnet": "vnet-spoke",
             "test_vnet": "vnet-spoke-test", "availability_set": "", "encryption": "", "disk_encryption_set": ""}
    rows[0] |= spoke  # all in the second subscription: passes
    rows[1] |= spoke | {"test_vnet": "vnet-test"}  # the first subscription's test VNet, by name in the second
    rows[2] |= {"target_subscription": "99999999-9999-4999-8999-999999999999"}
    first_only = [a for a in azure_role_assignments(lab) if SPOKE not in a["scope"]]

    result = validate_plan(write_rows(tmp_path / "plan.csv", rows), checks=live_checks,
                           start_at=parse_start_at("now"))
    with azure_roles_held(lab, first_only), live_checks_from_env(REPLICATING.get) as checks:
        unreachable = validate_plan(write_rows(tmp_path / "plan.csv", rows[:1]), checks=checks,
                                    start_at=parse_start_at("now"))

    row_errors = {(e.row, e.column): e.message for e in result.errors}
    assert not [key for key in row_errors if key[0] == 2], result.errors
    assert "VNet vnet-test is not in resource group rg-spoke of subscription " + SPOKE in row_errors[(3, "test_vnet")]
    assert "subscription 99999999-9999-4999-8999-999999999999 is not one vmshift's credentials reach" in \
        row_errors[(4, "target_subscription")]
    assert [(e.row, e.column) for e in unreachable.errors] == [(2, "target_subscription")]
    assert SPOKE in unreachable.errors[0].message


def test_a_service_principal_with_reader_only_sees_the_plan_refused_listing_every_missing_action_at_once(lab):
    """Reader reads everything and writes nothing: every action the plan's steps need that is not a read, at each
    scope of the plan and the appliance, is named, once, with the role that grants it."""
    with azure_roles_held(lab, [{"role": "Reader", "scope": ""}]), live_checks_from_env(REPLICATING.get) as checks:
        result = validate_plan(EXAMPLES / "waves.csv", checks=checks, start_at=parse_start_at("now"))

    assert not result.ok
    plan = validate_plan(EXAMPLES / "waves.csv", start_at=parse_start_at("now")).plan
    rows = [vm for wave in plan.waves for vm in wave.vms]
    places = [TargetPlace.of(vm) for vm in rows]
    scopes = azure_scopes(Appliance.from_env(), lab["arm"]["subscription_id"], places)
    expected = {(r.action, scope) for r in REQUIRED_ACTIONS if set(r.steps) & set(PLAN_STEPS)
                and not r.action.endswith("/read") and (r.only_when is None or r.only_when in plan_conditions(places))
                for scope in scopes[r.scope]}
    named = [(e.row, e.column, e.message) for e in result.errors if "the service principal lacks" in e.message]
    assert {(action, scope) for action, scope in expected
            if sum(f"lacks {action} at " in m and scope in m for _, _, m in named) == 1} == expected
    assert len(named) == len(expected)  # each once
    target_group = f"/subscriptions/{lab['arm']['subscription_id']}/resourceGroups/rg-target"
    disks = next(e for e in named if "Microsoft.Compute/disks/write" in e[2])
    assert disks[:2] == (2, "resource_group") and target_group in disks[2] and OPERATOR_ROLE.file in disks[2]
    endpoint = next(e for e in named if "Microsoft.Network/privateEndpoints/write" in e[2])
    assert endpoint[:2] == (2, None) and "the appliance's cache resource group" in endpoint[2]


def test_the_plan_names_a_privilege_its_vcenter_user_lacks_on_each_vm_row(lab, tmp_path: Path):
    with role_held(lab, ROLE_NAME, [p for p in role_privileges() if p != "VirtualMachine.Interact.PowerOff"]), \
            live_checks_from_env(REPLICATING.get) as checks:
        result = validate_plan(EXAMPLES / "waves.csv", checks=checks, start_at=parse_start_at("now"))
    lacking = [e for e in result.errors if "VirtualMachine.Interact.PowerOff" in e.message]
    assert [(e.row, e.column) for e in lacking] == [(2, "source_vm"), (3, "source_vm"), (4, "source_vm"),
                                                    (5, "source_vm")]
    assert "needed for cutover" in lacking[0].message and "docs/roles/vcenter-role.json" in lacking[0].message
def test_a_plan_naming_a_vm_already_migrated_and_completed_is_refused_at_its_row(lab, tmp_path: Path):
    store = StateStore.for_account("vmshiftcache01")
    store.ensure_container()
    done = VmState(vm="plan-done-01", phase="migrated")
    advance(done, Step.COMPLETE, Actor("complete-migration", run="run-41", by="ana@appliance-01"))
    store.save(StoredState(done, None))
    rows = example_rows()[:1]
    rows[0] |= {"source_vm": "plan-done-01", "target_vm_name": "plan-done-01", "disks": "",
                "cache_storage_account": "vmshiftcache01"}
    try:
        with live_checks_from_env() as checks:
            result = validate_plan(write_rows(tmp_path / "plan.csv", rows), checks=checks,
                                   start_at=parse_start_at("now"))
    finally:
        store.container.delete_blob(store.blob_name("plan-done-01"))

    refusal = next(e.message for e in result.errors if e.column == "source_vm" and "completed" in e.message)
    assert refusal.startswith("plan-done-01: migrated and completed at ") and "by run run-41" in refusal
    assert "leave its row out, or add the VM under another name" in refusal
