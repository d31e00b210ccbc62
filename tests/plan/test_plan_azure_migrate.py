"""The at-scale scripts' Input.csv maps onto the same plan, column by column."""

from __future__ import annotations

from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, NOW, errors_at, example_rows, write_rows

from vmshift.plan import PlanFormat, validate_plan
from vmshift.plan.azure_migrate import TEMPLATE_COLUMNS
from vmshift.plan.schema import DiskType, NicSelection, SqlLicense

INPUT = EXAMPLES / "azure-migrate-input.csv"
WAVES = EXAMPLES / "azure-migrate-waves.csv"
OPTIONS = {"region": "westeurope", "cache_storage_account": "vmshiftcache01", "now": NOW}


def validate_input(tmp_path: Path, changes: dict[int, dict[str, str]] | None = None, **options):
    rows = example_rows(INPUT.name)
    for row, cells in (changes or {}).items():
        rows[row - 2].update(cells)
    path = write_rows(tmp_path / "Input.csv", rows)
    return validate_plan(path, **(OPTIONS | options))


def test_example_input_with_waves_file_gives_the_same_waves_as_our_format():
    ours = validate_plan(EXAMPLES / "waves.csv", now=NOW).plan
    theirs = validate_plan(INPUT, waves_file=WAVES, **OPTIONS)

    assert theirs.ok, theirs.errors
    assert theirs.plan.source_format is PlanFormat.AZURE_MIGRATE
    assert [(w.name, w.start_at, [vm.source_vm for vm in w.vms]) for w in theirs.plan.waves] == [
        (w.name, w.start_at, [vm.source_vm for vm in w.vms]) for w in ours.waves]
    sql = theirs.plan.wave("wave-1").vms[0]
    assert sql.hybrid_benefit and sql.sql_license is SqlLicense.AHUB
    assert sql.availability_set == "avset-sql" and sql.disk_type is DiskType.PREMIUM_LRS
    assert sql.resource_tags("disk") == {"env": "prod", "app": "sql", "backup": "daily"}
    assert sql.test_vnet == "vnet-test" and sql.test_subnet == "snet-isolated"
    assert sql.nics[0].ip == "10.20.2.10" and sql.nics[0].test_ip == "10.30.2.10"
    rhel = theirs.plan.wave("wave-1").vms[1]
    assert [nic.selection for nic in rhel.nics] == [NicSelection.PRIMARY, NicSelection.DO_NOT_CREATE]


def test_without_a_waves_file_options_name_the_wave_and_start(tmp_path):
    result = validate_input(tmp_path, wave="migration-1", start_at=NOW)

    assert result.ok, result.errors
    (wave,) = result.plan.waves
    assert wave.name == "migration-1" and wave.start_at == NOW and len(wave.vms) == 4


def test_missing_region_and_start_are_errors_naming_the_options(tmp_path):
    result = validate_input(tmp_path, region=None)

    assert (1, "region") in errors_at(result)
    assert any("--start-at" in error.message for error in result.errors)


def test_tag_lists_of_different_lengths(tmp_path):
    result = validate_input(tmp_path, {3: {"VM_TAG_KEY": "a,b", "VM_TAG_VALUE": "1"}}, start_at=NOW)

    assert (3, "VM_TAG_VALUE") in errors_at(result)
    assert "2 tag name(s) in VM_TAG_KEY but 1 value(s)" in result.errors[0].message


def test_ok_to_migrate_n_replicates_and_test_migrates_but_never_cuts_over(tmp_path):
    result = validate_input(tmp_path, {4: {"OK_TO_MIGRATE": "N"}}, start_at=NOW)

    vm = result.plan.waves[0].vms[2]
    assert vm.source_vm == "app-linux-01"
    assert not vm.allow_cutover and vm.allow_test_migration


def test_switches_are_on_only_with_y_as_in_the_scripts(tmp_path):
    result = validate_input(tmp_path, {2: {"TURNOFF_SOURCESERVER": "", "OK_TO_TESTMIGRATE": "n"}}, start_at=NOW)

    vm = result.plan.waves[0].vms[0]
    assert not vm.turn_off_source and not vm.allow_test_migration


def test_updated_columns_win_over_the_originals(tmp_path):
    result = validate_input(tmp_path, {3: {"UPDATED_TARGET_MACHINE_NAME": "web-02", "UPDATED_TARGET_MACHINE_SIZE":
                                           "Standard_D4s_v5"}}, start_at=NOW)

    vm = result.plan.waves[0].vms[1]
    assert (vm.target_vm_name, vm.vm_size) == ("web-02", "Standard_D4s_v5")


def test_test_network_id_gives_the_test_vnet(tmp_path):
    vnet_id = ("/subscriptions/00000000-1111-4222-8333-444444444444/resourceGroups/rg-target/providers/"
               "Microsoft.Network/virtualNetworks/vnet-test")
    result = validate_input(tmp_path, {4: {"TESTMIGRATE_VNET_NAME": "", "TEST_NETWORK_ID": vnet_id}}, start_at=NOW)

    assert result.plan.waves[0].vms[2].test_vnet == "vnet-test"


def test_empty_target_subnet_is_default_as_in_the_scripts(tmp_path):
    result = validate_input(tmp_path, {4: {"TARGET_SUBNET_NAME": ""}}, start_at=NOW)

    assert result.plan.waves[0].vms[2].target_subnet == "default"


@pytest.mark.parametrize(
    ("cells", "column"),
    [
        ({"LICENSE_TYPE": "Linux"}, "LICENSE_TYPE"),
        ({"SQL_SERVER_LICENSE_TYPE": "Free"}, "SQL_SERVER_LICENSE_TYPE"),
        ({"TARGET_DISKTYPE": "Premium"}, "TARGET_DISKTYPE"),
        ({"AVAILABILITYZONE_NUMBER": "1"}, "AVAILABILITYSET_NAME"),
        ({"UPDATED_TARGET_NIC1_IP": "10.20.2.999"}, "UPDATED_TARGET_NIC1_IP"),
        ({"UPDATED_TARGET_NIC1_SELECTIONTYPE": "Tertiary"}, "UPDATED_TARGET_NIC1_SELECTIONTYPE"),
        ({"TESTMIGRATE_VNET_NAME": "vnet-target"}, "TESTMIGRATE_VNET_NAME"),
        ({"SOURCE_MACHINE_NAME": ""}, "SOURCE_MACHINE_NAME"),
        ({"TEST_NETWORK_ID": "vnet-test", "TESTMIGRATE_VNET_NAME": ""}, "TEST_NETWORK_ID"),
    ],
)
def test_errors_name_the_at_scale_column(tmp_path, cells, column):
    result = validate_input(tmp_path, {2: cells}, start_at=NOW)

    assert (2, column) in errors_at(result), result.errors


def test_columns_we_cannot_honour_are_warnings_naming_them(tmp_path):
    result = validate_input(tmp_path, {2: {"OS_UPGRADE_VERSION": "Microsoft Windows Server 2022 (64-bit)",
                                           "UPDATED_TAG_KEY": "x", "OK_TO_CLEANUP": "N"}}, start_at=NOW)

    assert result.ok
    warned = {warning.column: warning.message for warning in result.warnings}
    assert "OS_UPGRADE_VERSION" in warned and "rows 2" in warned["OS_UPGRADE_VERSION"]
    assert {"UPDATED_TAG_KEY", "OK_TO_CLEANUP", "AZMIGRATEPROJECT_NAME"} <= set(warned)


def test_os_disk_uuid_is_a_warning_and_disk_1_is_the_os_disk(tmp_path):
    result = validate_input(tmp_path, {2: {"OS_DISK_ID": "6000C29a-1b2c-3d4e-5f60-718293a4b5c6"}}, start_at=NOW)

    assert result.plan.waves[0].vms[0].os_disk == 1
    assert any(warning.column == "OS_DISK_ID" for warning in result.warnings)


def test_unknown_at_scale_column_is_an_error(tmp_path):
    rows = [dict(row, TARGET_VM_SKU="x") for row in example_rows(INPUT.name)]
    result = validate_plan(write_rows(tmp_path / "Input.csv", rows), start_at=NOW, **OPTIONS)

    assert (1, "TARGET_VM_SKU") in errors_at(result)


def test_the_template_header_alone_is_the_at_scale_format(tmp_path):
    path = tmp_path / "Input.csv"
    path.write_text(",".join(TEMPLATE_COLUMNS) + "\n", encoding="utf-8")

    result = validate_plan(path, **OPTIONS)

    assert [(e.row, e.message) for e in result.errors] == [(2, "the plan has no VM: add a row under the header")]


def test_waves_file_errors_name_the_file(tmp_path):
    waves = tmp_path / "waves.csv"
    waves.write_text("source_vm,wave,start_time,colour\nwin-sql-01,w1,soon,red\nghost-01,w1,,\n", encoding="utf-8")

    result = validate_input(tmp_path, waves_file=waves)

    columns = {error.column for error in result.errors}
    assert "waves.csv:colour" in columns and "waves.csv:source_vm" in columns
    assert "waves.csv row 2: start_time" in columns


def test_nic_ip_auto_means_a_dynamic_ip_as_the_scripts_docs_say(tmp_path):
    result = validate_input(tmp_path, {2: {"UPDATED_TARGET_NIC1_IP": "auto", "UPDATED_TARGET_NIC1_TEST_IP": "AUTO"}},
                            start_at=NOW)

    nic = result.plan.waves[0].vms[0].nics[0]
    assert (nic.ip, nic.test_ip, nic.subnet) == (None, None, "snet-data")
