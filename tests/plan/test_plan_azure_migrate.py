"""The at-scale scripts' Input.csv maps onto the same plan, column by column."""

from __future__ import annotations

from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, NOW, errors_at, example_rows, write_rows

from vmshift.plan import PlanFormat, validate_plan
from vmshift.plan.azure_migrate import CURRENT_TEMPLATE
from vmshift.plan.schema import DiskType, NicSelection, SqlLicense

INPUT = EXAMPLES / "azure-migrate-input.csv"
DATA = Path(__file__).parent / "data"
EARLIER = DATA / "input-2020-layout.csv"
WAVES = EXAMPLES / "azure-migrate-waves.csv"
OPTIONS = {"region": "westeurope", "cache_storage_account": "vmshiftcache01", "now": NOW}


def validate_input(tmp_path: Path, changes: dict[int, dict[str, str]] | None = None, **options):
    rows = example_rows(INPUT.name)
    for row, cells in (changes or {}).items():
        rows[row - 2].update(cells)
    path = write_rows(tmp_path / "Input.csv", rows)
    return validate_plan(path, **(OPTIONS | options))


def test_the_example_has_the_current_82_column_header():
    assert example_rows(INPUT.name)[0].keys() == set(CURRENT_TEMPLATE) and len(CURRENT_TEMPLATE) == 82


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


def test_ok_to_migrate_n_leaves_the_vm_out_as_the_scripts_neither_replicate_nor_migrate_it(tmp_path):
    result = validate_input(tmp_path, {4: {"OK_TO_MIGRATE": "N"}}, start_at=NOW)

    assert [vm.source_vm for vm in result.plan.waves[0].vms] == ["win-sql-01", "web-rhel-02", "win-iis-03"]
    (warning,) = [w for w in result.warnings if w.column == "OK_TO_MIGRATE"]
    assert "left out" in warning.message and "rows 4" in warning.message


def test_switches_are_on_only_with_y_as_in_the_scripts(tmp_path):
    result = validate_input(tmp_path, {2: {"TURNOFF_SOURCESERVER": "", "OK_TO_TESTMIGRATE": "n"}}, start_at=NOW)

    vm = result.plan.waves[0].vms[0]
    assert not vm.turn_off_source and not vm.allow_test_migration


def test_updated_columns_win_over_the_originals(tmp_path):
    result = validate_input(tmp_path, {3: {"UPDATED_TARGET_MACHINE_NAME": "web-02", "UPDATED_TARGET_MACHINE_SIZE":
                                           "Standard_D4s_v5"}}, start_at=NOW)

    vm = result.plan.waves[0].vms[1]
    assert (vm.target_vm_name, vm.vm_size) == ("web-02", "Standard_D4s_v5")


def test_the_earlier_76_column_layout_still_validates_and_its_test_network_id_keeps_its_resource_group(tmp_path):
    vnet_id = ("/subscriptions/00000000-1111-4222-8333-444444444444/resourceGroups/rg-network/providers/"
               "Microsoft.Network/virtualNetworks/vnet-test")
    rows = example_rows(EARLIER)
    assert len(rows[0]) == 77  # the 76 columns and TEST_SUBNET_NAME, as StartReplication.ps1 read it
    rows[2].update({"TESTMIGRATE_VNET_NAME": "", "TEST_NETWORK_ID": vnet_id})
    result = validate_plan(write_rows(tmp_path / "Input.csv", rows), start_at=NOW, **OPTIONS)

    assert result.ok, result.text()
    assert result.plan.waves[0].vms[2].test_vnet == vnet_id


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
        ({"TARGET_DISKTYPE": "Premium_ZRS"}, "TARGET_DISKTYPE"),
        ({"SQL_SERVER_LICENSE_TYPE": "DR"}, "SQL_SERVER_LICENSE_TYPE"),
        ({"TURNOFF_SOURCESERVER": "maybe"}, "TURNOFF_SOURCESERVER"),
        ({"OS_UPGRADE_VERSION": "Microsoft Windows Server 2022 (64-bit)"}, "OS_UPGRADE_VERSION"),
        ({"OS_DISK_ID": "6000C29a-1b2c-3d4e-5f60-718293a4b5c6"}, "OS_DISK_ID"),
        ({"TFO_NIC1_ID": "4000"}, "TFO_NIC1_ID"),
        ({"UPDATED_VMTAG_KEY": "owner", "UPDATED_VMTAG_VALUE": "dba"}, "UPDATED_VMTAG_OPERATION"),
        ({"UPDATED_TAG_KEY": "a", "UPDATED_TAG_VALUE": "1", "UPDATED_TAG_OPERATION": "Add"}, "UPDATED_TAG_OPERATION"),
        ({"UPDATED_TARGET_DISK_NAME": "os-a", "UPDATED_TARGET_OS_DISK_NAME": "os-b"}, "UPDATED_TARGET_OS_DISK_NAME"),
        ({"OK_TO_USE_ASSESSMENT": "Y"}, "OK_TO_USE_ASSESSMENT"),
        ({"AZMIGRATE_APPLIANCE_NAME": "appliance-02"}, "AZMIGRATE_APPLIANCE_NAME"),
        ({"TEST_SUBNET_NAME": "", "TFO_NIC1_TEST_SUBNET_NAME": ""}, "TEST_SUBNET_NAME"),
        ({"TFO_NIC1_TEST_SUBNET_NAME": "snet isolated"}, "TFO_NIC1_TEST_SUBNET_NAME"),
        ({"UPDATED_TARGET_NIC1_NAME": "nic:1"}, "UPDATED_TARGET_NIC1_NAME"),
        ({"UPDATED_TEST_VNET_NAME": "vnet-target", "TESTMIGRATE_VNET_NAME": ""}, "UPDATED_TEST_VNET_NAME"),
        ({"TEST_VNET_NAME": "vnet test", "TESTMIGRATE_VNET_NAME": ""}, "TEST_VNET_NAME"),
        ({"UPDATED_TARGET_NIC2_IP": "10.20.2.10"}, "UPDATED_TARGET_NICn_*, TFO_NICn_*"),
    ],
)
def test_errors_name_the_at_scale_column(tmp_path, cells, column):
    result = validate_input(tmp_path, {2: cells}, start_at=NOW, appliance="appliance-01")

    assert (2, column) in errors_at(result), result.errors


def test_updated_columns_on_a_row_without_ok_to_update_are_not_applied_and_named(tmp_path):
    result = validate_input(tmp_path, {2: {"OK_TO_UPDATE": "N", "UPDATED_TARGET_MACHINE_SIZE": "Standard_D8s_v5"}},
                            start_at=NOW)

    sql = result.plan.waves[0].vms[0]
    assert sql.vm_size == "Standard_D4s_v5" and sql.sql_license is SqlLicense.NONE
    # StartTestMigration.ps1 reads TFO_NIC1_TEST_SUBNET_NAME whatever OK_TO_UPDATE says; the NIC's IP is an update.
    assert (sql.nics[0].ip, sql.nics[0].test_subnet) == (None, "snet-isolated")
    warned = {warning.column: warning.message for warning in result.warnings}
    assert {"UPDATED_TARGET_MACHINE_SIZE", "UPDATED_TARGET_NIC1_IP", "SQL_SERVER_LICENSE_TYPE"} <= set(warned)
    assert "OK_TO_UPDATE" in warned["UPDATED_TARGET_MACHINE_SIZE"] and "rows 2" in warned["UPDATED_TARGET_NIC1_IP"]


def test_the_test_vnet_is_the_test_migration_scripts_then_the_updates_then_replications(tmp_path):
    rows = {2: {"TESTMIGRATE_VNET_NAME": "vnet-tfo", "UPDATED_TEST_VNET_NAME": "vnet-upd", "TEST_VNET_NAME": "vnet-r"},
            3: {"TESTMIGRATE_VNET_NAME": "", "UPDATED_TEST_VNET_NAME": "vnet-upd", "TEST_VNET_NAME": "vnet-r"},
            4: {"TESTMIGRATE_VNET_NAME": "", "UPDATED_TEST_VNET_NAME": "", "TEST_VNET_NAME": "vnet-r"}}
    result = validate_input(tmp_path, rows, start_at=NOW)

    assert [vm.test_vnet for vm in result.plan.waves[0].vms[:3]] == ["vnet-tfo", "vnet-upd", "vnet-r"]


def test_a_nics_test_subnet_for_the_test_migration_wins_over_the_updated_one(tmp_path):
    result = validate_input(tmp_path, {2: {"UPDATED_TARGET_NIC1_TEST_SUBNET_NAME": "snet-upd",
                                           "TFO_NIC1_TEST_SUBNET_NAME": "snet-tfo"},
                                       3: {"UPDATED_TARGET_NIC1_TEST_SUBNET_NAME": "snet-upd",
                                           "TFO_NIC1_TEST_SUBNET_NAME": ""}}, start_at=NOW)

    sql, web = result.plan.waves[0].vms[:2]
    assert (sql.nics[0].test_subnet, web.nics[0].test_subnet) == ("snet-tfo", "snet-upd")


@pytest.mark.parametrize(
    ("operation", "expected_vm_tags"),
    [
        ("Merge", {"env": "test", "app": "sql", "role": "database", "owner": "dba"}),
        ("Replace", {"env": "test", "owner": "dba"}),
        ("Delete", {"app": "sql", "role": "database"}),
    ],
)
def test_tag_updates_merge_replace_or_delete_as_set_azmigrateserverreplication_does(tmp_path, operation,
                                                                                     expected_vm_tags):
    value = "prod,dba" if operation == "Delete" else "test,dba"
    result = validate_input(tmp_path, {2: {"UPDATED_VMTAG_KEY": "ENV,owner", "UPDATED_VMTAG_VALUE": value,
                                           "UPDATED_VMTAG_OPERATION": operation.lower()}}, start_at=NOW)

    sql = result.plan.waves[0].vms[0]
    assert {key.lower(): v for key, v in sql.resource_tags("vm").items()} == expected_vm_tags
    assert sql.resource_tags("disk") == {"env": "prod", "app": "sql", "backup": "daily"}


def test_disk_names_come_from_the_update_scripts_disk_columns(tmp_path):
    result = validate_input(tmp_path, {2: {"UPDATED_TARGET_OS_DISK_NAME": "sql-01-os", "DATA_DISK1_ID": "2",
                                           "UPDATED_TARGET_DATA_DISK1_NAME": "sql-01-data"},
                                       3: {"UPDATED_TARGET_DATA_DISK2_NAME": "web-data"}}, start_at=NOW)

    sql, web = result.plan.waves[0].vms[:2]
    assert sql.disk_names == ((1, "sql-01-os"), (2, "sql-01-data"))
    assert web.disk_names == ()
    assert any(w.column == "UPDATED_TARGET_DATA_DISK2_NAME" and "DATA_DISK2_ID" in w.message for w in result.warnings)


def test_an_assessment_wins_over_target_size_and_disk_type_and_an_update_wins_over_it(tmp_path):
    assessed = {"OK_TO_USE_ASSESSMENT": "Y", "AZMIGRATEASSESSMENT_NAME": "assessment-a",
                "AZMIGRATEGROUP_NAME": "group-sql"}
    result = validate_input(tmp_path, {2: assessed, 3: assessed | {"UPDATED_TARGET_MACHINE_SIZE": "Standard_D8s_v5"}},
                            start_at=NOW, assessment=DATA / "assessment.csv")

    sql, web = result.plan.waves[0].vms[:2]
    assert sql.vm_size == "Standard_E4s_v5" and sql.disk_type_of(2) is DiskType.PREMIUM_LRS
    assert web.vm_size == "Standard_D8s_v5" and web.disk_type_of(1) is DiskType.STANDARD_SSD_LRS


def test_project_columns_are_named_in_a_warning_as_vmshift_finds_vms_in_vcenter(tmp_path):
    result = validate_input(tmp_path, start_at=NOW)

    warned = {warning.column: warning.message for warning in result.warnings}
    assert "rows 2, 3, 4, 5" in warned["AZMIGRATEPROJECT_NAME"] and "vCenter" in warned["AZMIGRATEPROJECT_NAME"]


def test_unknown_at_scale_column_is_an_error(tmp_path):
    rows = [dict(row, TARGET_VM_SKU="x") for row in example_rows(INPUT.name)]
    result = validate_plan(write_rows(tmp_path / "Input.csv", rows), start_at=NOW, **OPTIONS)

    assert (1, "TARGET_VM_SKU") in errors_at(result)


def test_the_template_header_alone_is_the_at_scale_format(tmp_path):
    path = tmp_path / "Input.csv"
    path.write_text(",".join(CURRENT_TEMPLATE) + "\n", encoding="utf-8")

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
