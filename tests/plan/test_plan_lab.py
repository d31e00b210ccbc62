"""The online checks against the lab's vCenter and ARM, through the same clients the CLI uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, errors_at, example_rows, write_rows

from vmshift.plan import LiveChecks, ReplicationState, live_checks_from_env, parse_start_at, validate_plan
from vmshift.replication.storage import blob_service_client
from vmshift.state.document import VmState
from vmshift.state.store import DEFAULT_CONTAINER, StateStore, StoredState

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
    container = blob_service_client("vmshiftcacheeus").get_container_client(DEFAULT_CONTAINER)
    store = StateStore(container)
    store.ensure_container()
    store.save(StoredState(VmState(vm="plan-moved-01", phase="protected"), None))
    rows = example_rows()[:1]
    rows[0] |= {"source_vm": "plan-moved-01", "target_vm_name": "plan-moved-01", "disks": ""}
    try:
        with live_checks_from_env() as checks:
            result = validate_plan(write_rows(tmp_path / "plan.csv", rows), checks=checks,
                                   start_at=parse_start_at("now"))
    finally:
        container.delete_blob(store.blob_name("plan-moved-01"))

    assert {(2, "cache_storage_account"), (2, "region")} <= errors_at(result)
    assert "already replicates to 'vmshiftcacheeus'" in next(
        e.message for e in result.errors if e.column == "cache_storage_account")
