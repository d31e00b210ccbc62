"""Each validation rule refuses the plan with the row, the column and what is allowed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from plan_helpers import EXAMPLES, NOW, errors_at, example_rows
from pydantic import TypeAdapter

from vmshift.plan import PlanInvalid, Wave, parse_start_at
from vmshift.plan.columns import COLUMNS, parse_time
from vmshift.plan.schema import DiskType, Encryption, NicSelection, OsType


def test_example_plan_is_valid_with_two_waves(validate_example):
    result = validate_example()

    assert result.ok, result.errors
    assert result.rows == 4
    assert [wave.name for wave in result.plan.waves] == ["wave-1", "wave-2"]
    sql = result.plan.wave("wave-1").vms[0]
    assert sql.source_vm == "win-sql-01" and sql.os_type is OsType.WINDOWS
    assert [(d.number, d.disk_type, d.is_os) for d in sql.disks] == [
        (1, DiskType.PREMIUM_LRS, True), (2, DiskType.STANDARD_SSD_LRS, False)]
    assert sql.encryption is Encryption.CUSTOMER and sql.disk_encryption_set == "des-cmk"
    assert sql.resource_tags("vm") == {"env": "prod", "app": "sql", "role": "database"}
    assert sql.nics[0].selection is NicSelection.PRIMARY and sql.nics[0].ip == "10.20.2.10"
    assert result.plan.wave("wave-2").application_groups() == {"shop": ("app-linux-01", "win-iis-03")}


@pytest.mark.parametrize(
    ("cells", "column", "allowed"),
    [
        ({"disk_type": "Ultra_LRS"}, "disk_type", "Premium_LRS"),
        ({"encryption": "triple"}, "encryption", "platform, customer, double"),
        ({"hybrid_benefit": "maybe"}, "hybrid_benefit", "yes or no"),
        ({"availability_zone": "4"}, "availability_zone", "1, 2 or 3"),
        ({"target_subscription": "not-a-guid"}, "target_subscription", "GUID"),
        ({"cache_storage_account": "Cache_Account"}, "cache_storage_account", "lower-case"),
        ({"start_time": "2031-01-15 20:00"}, "start_time", "time zone"),
        ({"start_time": "next tuesday"}, "start_time", "ISO 8601"),
        ({"os_disk": "zero"}, "os_disk", "disk number"),
        ({"disks": "1:Premium_LRS;1"}, "disks", "disk numbers"),
        ({"tags": "env"}, "tags", "key=value"),
        ({"nics": "1:Primary:snet-app:10.20.1.300"}, "nics", "selection"),
        ({"cutover_window": "2031-01-18T06:00:00Z/2031-01-15T20:00:00Z"}, "cutover_window", "START/END"),
        ({"wave": ""}, "wave", "a name"),
    ],
)
def test_a_wrong_cell_names_its_row_column_and_what_is_allowed(validate_example, cells, column, allowed):
    result = validate_example({3: cells})

    assert not result.ok and result.plan is None
    assert (3, column) in errors_at(result)
    message = next(e.message for e in result.errors if (e.row, e.column) == (3, column))
    assert "allowed:" in message and allowed in message


def test_unknown_and_missing_columns_are_header_errors(validate_example, tmp_path):
    from plan_helpers import example_rows, write_rows

    from vmshift.plan import validate_plan

    rows = [dict(row, colour="blue") for row in example_rows()]
    for row in rows:
        del row["region"]
    result = validate_plan(write_rows(tmp_path / "p.csv", rows), now=NOW)

    assert {(1, "colour"), (1, "region")} <= errors_at(result)


def test_vm_in_two_waves_is_refused_on_the_later_row(validate_example):
    result = validate_example({4: {"source_vm": "win-sql-01", "target_vm_name": "sql-copy"}})

    assert (4, "wave") in errors_at(result)
    assert "already in wave wave-1 (row 2)" in result.errors[0].message


def test_vm_listed_twice_in_one_wave(validate_example):
    result = validate_example({3: {"source_vm": "win-sql-01", "target_vm_name": "other"}})

    assert (3, "source_vm") in errors_at(result)


def test_duplicate_target_names_in_a_resource_group(validate_example):
    result = validate_example({5: {"target_vm_name": "app-linux-01"}})

    assert (5, "target_vm_name") in errors_at(result)


def test_zone_with_availability_set(validate_example):
    assert (2, "availability_set") in errors_at(validate_example({2: {"availability_zone": "1"}}))


def test_customer_key_without_disk_encryption_set(validate_example):
    assert (2, "disk_encryption_set") in errors_at(validate_example({2: {"disk_encryption_set": ""}}))


def test_disk_encryption_set_without_customer_key(validate_example):
    assert (3, "disk_encryption_set") in errors_at(validate_example({3: {"disk_encryption_set": "des-cmk"}}))


def test_hybrid_benefit_on_a_linux_guest(validate_example):
    assert (3, "hybrid_benefit") in errors_at(validate_example({3: {"hybrid_benefit": "yes"}}))


def test_test_vnet_equal_to_target_vnet(validate_example):
    assert (3, "test_vnet") in errors_at(validate_example({3: {"test_vnet": "VNET-target"}}))


def test_test_vnet_without_test_subnet(validate_example):
    assert (3, "test_subnet") in errors_at(validate_example({3: {"test_subnet": ""}}))


def test_os_disk_left_out(validate_example):
    result = validate_example({2: {"disks": "2:Premium_LRS"}})

    assert (2, "disks") in errors_at(result)
    assert "OS disk (disk 1) is left out" in result.errors[0].message


def test_windows_name_longer_than_15(validate_example):
    assert (2, "target_vm_name") in errors_at(validate_example({2: {"target_vm_name": "sql-server-prod-01"}}))


def test_start_time_in_the_past(validate_example):
    result = validate_example(now=datetime(2031, 2, 1, tzinfo=UTC))

    assert (2, "start_time") in errors_at(result) and (4, "start_time") in errors_at(result)


def test_two_start_times_in_one_wave(validate_example):
    assert (3, "start_time") in errors_at(validate_example({3: {"start_time": "2031-01-16T20:00:00Z"}}))


def test_a_wave_without_start_time(validate_example):
    result = validate_example({2: {"start_time": ""}, 3: {"start_time": ""}})

    assert (2, "start_time") in errors_at(result)
    assert "--start-at" in result.errors[0].message


def test_application_group_across_waves(validate_example):
    result = validate_example({3: {"application_group": "shop"}})

    assert (4, "application_group") in errors_at(result)
    assert "allowed: wave wave-1 only" in result.errors[0].message


def test_application_group_must_agree_on_cutover(validate_example):
    assert (5, "allow_cutover") in errors_at(validate_example({5: {"allow_cutover": "no"}}))


def test_cutover_at_outside_the_window(validate_example):
    assert (4, "cutover_at") in errors_at(validate_example({4: {"cutover_at": "2031-01-26T22:00:00Z"}}))


def test_same_static_ip_twice(validate_example):
    result = validate_example({3: {"nics": "1:Primary:snet-app:10.20.2.10"}})

    assert (3, "nics") in errors_at(result)


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1)", "\t=1"])
def test_formula_cells_are_refused(validate_example, cell):
    result = validate_example({4: {"tags": cell}})

    assert (4, "tags") in errors_at(result)
    assert "formula" in result.errors[0].message


def test_start_at_moves_the_whole_schedule(validate_example):
    start = NOW + timedelta(minutes=5)
    result = validate_example(start_at=start)

    assert result.ok, result.errors
    first, second = result.plan.waves
    assert first.start_at == start and second.start_at == start + timedelta(days=7)
    assert first.cutover_window.start == start
    assert second.vms[0].cutover_at == start + timedelta(days=9, hours=2)


def test_start_at_with_wave_keeps_only_that_wave(validate_example):
    result = validate_example(start_at=NOW, wave="wave-2")

    assert [wave.name for wave in result.plan.waves] == ["wave-2"]
    assert result.plan.waves[0].start_at == NOW


def test_start_at_in_the_past_is_refused(validate_example):
    result = validate_example(start_at=NOW - timedelta(hours=1))

    assert (1, "start_time") in errors_at(result)


def test_unknown_wave_is_refused(validate_example):
    assert (1, "wave") in errors_at(validate_example(wave="wave-9"))


def test_invalid_plan_raises_with_every_error(validate_example):
    result = validate_example({2: {"region": "West Europe"}, 3: {"disk_type": "fast"}})

    with pytest.raises(PlanInvalid, match="2 error"):
        result.raise_for_errors()
    assert result.to_json()["errors"][0] == {"row": 2, "column": "region",
                                              "message": result.errors[0].message}


def test_fingerprint_is_stable_and_changes_with_content(validate_example):
    first = validate_example().plan.wave("wave-1").fingerprint()
    sql, rhel = (row for row in example_rows() if row["wave"] == "wave-1")
    reordered = {2: rhel, 3: sql}

    assert first == validate_example().plan.wave("wave-1").fingerprint()
    assert first == validate_example(reordered).plan.wave("wave-1").fingerprint()
    assert first != validate_example({3: {"vm_size": "Standard_D4s_v5"}}).plan.wave("wave-1").fingerprint()
    assert first != validate_example(start_at=NOW).plan.wave("wave-1").fingerprint()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("now", NOW), ("+30m", NOW + timedelta(minutes=30)), ("+2h", NOW + timedelta(hours=2)),
     ("2031-01-01T00:00:00+01:00", datetime(2030, 12, 31, 23, tzinfo=UTC))],
)
def test_start_at_option_forms(text, expected):
    assert parse_start_at(text, NOW) == expected


@pytest.mark.parametrize("text", ["soon", "2031-01-01T00:00:00", "+5 minutes"])
def test_start_at_option_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="--start-at"):
        parse_start_at(text, NOW)


def test_docs_describe_every_column():
    docs = (EXAMPLES.parent / "docs" / "wave-plan.md").read_text(encoding="utf-8")

    assert all(f"| `{column.name}` |" in docs for column in COLUMNS)


def test_region_and_cache_options_fill_empty_cells(validate_example):
    result = validate_example({3: {"region": "", "cache_storage_account": ""}}, region="westeurope",
                              cache_storage_account="vmshiftcache01")

    assert result.ok, result.errors
    rhel = result.plan.wave("wave-1").vms[1]
    assert (rhel.region, rhel.cache_storage_account) == ("westeurope", "vmshiftcache01")


def test_a_wave_travels_as_json_flow_parameters(validate_example):
    for wave in validate_example().plan.waves:
        parameters = json.loads(json.dumps(TypeAdapter(Wave).dump_python(wave, mode="json")))

        returned = TypeAdapter(Wave).validate_python(parameters)
        assert returned == wave and returned.fingerprint() == wave.fingerprint()


def test_text_report_lists_errors_then_the_verdict(validate_example):
    refused = validate_example({3: {"disk_type": "fast"}}).text().splitlines()
    accepted = [line for line in validate_example().text().splitlines() if not line.startswith("warning:")]

    assert refused[0].startswith("error: row 3, column disk_type: 'fast' is not a known value; allowed:")
    assert refused[-1] == "refused: 1 error(s) in 4 row(s); nothing is started"
    assert accepted[0] == "ok: 4 VM(s) in 2 wave(s)"
    assert accepted[1].startswith("  wave-1: 2 VM(s), starts 2031-01-15T20:00:00+00:00, cutover window 2031-01-15")


def test_an_application_group_cuts_over_at_one_time(validate_example):
    result = validate_example({5: {"cutover_at": "2031-01-24T23:00:00Z"}})

    assert (5, "cutover_at") in errors_at(result)
    assert "cuts over together" in next(e.message for e in result.errors if e.row == 5)


def test_a_timed_group_is_one_scheduled_cutover_and_a_timed_vm_its_own(validate_example):
    result = validate_example({2: {"cutover_at": "2031-01-16T22:00:00Z"}})

    assert result.plan.wave("wave-1").scheduled_cutovers() == (
        ("vm-win-sql-01", ("win-sql-01",), parse_time("2031-01-16T22:00:00Z")),)
    assert result.plan.wave("wave-2").scheduled_cutovers() == (
        ("group-shop", ("app-linux-01", "win-iis-03"), parse_time("2031-01-24T22:00:00Z")),)
