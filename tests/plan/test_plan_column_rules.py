"""Every column has one rule, the docs show it, and the readers keep to it: a value is carried out (it changes
the plan), refused (an error names the column), or only warned about (a warning names it, the plan unchanged)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from plan_helpers import EXAMPLES, NOW, example_rows, write_rows

from vmshift.plan import PlanFormat, PlanValidation, validate_plan
from vmshift.plan import rules as rules_module
from vmshift.plan.columns import COLUMNS, Column
from vmshift.plan.hooks import HookDeclaration, catalog_of
from vmshift.plan.rules import RULES, Outcome, columns_without_rule, read_columns, rules_table, rules_without_column
from vmshift.plan.schema import HookMoment

DATA = Path(__file__).parent / "data"
DOCS = EXAMPLES.parent / "docs" / "wave-plan.md"
HOOKS = catalog_of([HookDeclaration("quiesce-sql", command=("/bin/true",),
                                    moments=frozenset({HookMoment.PRE_CUTOVER}))])
OTHER_SUBSCRIPTION = "11111111-2222-4333-8444-555555555555"
TEST_VNET_ID = ("/subscriptions/00000000-1111-4222-8333-444444444444/resourceGroups/rg-network/providers/"
                "Microsoft.Network/virtualNetworks/vnet-test")


@dataclass(frozen=True)
class Sample:
    """A value of the column, on the first VM of the example, with `context` cells set before and after."""

    value: str
    context: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    example: str | Path = "waves.csv"


AT_SCALE = {"region": "westeurope", "cache_storage_account": "vmshiftcache01", "start_at": NOW}
ASSESSED = {"assessment": DATA / "assessment.csv"}
ASSESSING = {"OK_TO_USE_ASSESSMENT": "Y", "AZMIGRATEASSESSMENT_NAME": "assessment-a",
             "AZMIGRATEGROUP_NAME": "group-sql"}
ALONE = {"wave": "wave-9"}
TAG_UPDATE = {"KEY": "env", "VALUE": "prod", "OPERATION": "Merge"}

VMSHIFT_SAMPLES = {
    "wave": Sample("wave-9"), "source_vm": Sample("win-sql-09"), "vcenter": Sample("vcenter.example.com"),
    "target_subscription": Sample(OTHER_SUBSCRIPTION), "region": Sample("northeurope"),
    "resource_group": Sample("rg-other"), "target_vm_name": Sample("win-sql-09"),
    "cache_storage_account": Sample("vmshiftcache02"), "target_vnet": Sample("vnet-other"),
    "target_subnet": Sample("snet-other"), "test_vnet": Sample("vnet-test2"), "test_subnet": Sample("snet-test2"),
    "vm_size": Sample("Standard_D8s_v5"), "os_type": Sample("linux", {"hybrid_benefit": "no", "sql_license": ""}),
    "os_disk": Sample("2"), "disk_type": Sample("StandardSSD_LRS"), "disks": Sample("1:Premium_LRS"),
    "availability_zone": Sample("1", {"availability_set": ""}), "availability_set": Sample("avset-other"),
    "encryption": Sample("double"), "disk_encryption_set": Sample("des-other"), "hybrid_benefit": Sample("no"),
    "sql_license": Sample("PAYG"), "tags": Sample("k=v"), "vm_tags": Sample("k=v"), "disk_tags": Sample("k=v"),
    "nic_tags": Sample("k=v"), "nics": Sample("1:Primary:snet-data:10.20.2.11"), "disk_names": Sample("1=sql-os"),
    "hooks": Sample("pre-cutover=quiesce-sql", options={"hooks": HOOKS}), "appliance": Sample("appliance-02"),
    "start_time": Sample("2031-01-15T21:00:00Z", ALONE), "cutover_window": Sample(
        "2031-01-15T20:00:00Z/2031-01-19T06:00:00Z", ALONE), "cutover_at": Sample("2031-01-16T22:00:00Z"),
    "application_group": Sample("erp"), "turn_off_source": Sample("no"), "allow_test_migration": Sample("no"),
    "allow_cutover": Sample("no"), "allow_test_cleanup": Sample("no"), "allow_complete": Sample("no"),
    "prepare_os": Sample("yes"),
}


def _at_scale(value: str, context: dict[str, str] | None = None, **options) -> Sample:
    return Sample(value, context or {}, AT_SCALE | options, "azure-migrate-input.csv")


def _tag_update(kind: str, value: str) -> Sample:
    return _at_scale(value, {f"UPDATED_{kind}_{name}": text for name, text in TAG_UPDATE.items()})


AT_SCALE_SAMPLES = {
    "AZMIGRATEPROJECT_SUBSCRIPTION_ID": _at_scale(OTHER_SUBSCRIPTION, {"TARGET_SUBSCRIPTION_ID": ""}),
    "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME": _at_scale("rg-other"),
    "AZMIGRATEPROJECT_NAME": _at_scale("project-2"), "AZMIGRATE_APPLIANCE_NAME": _at_scale("appliance-02"),
    "SOURCE_MACHINE_NAME": _at_scale("win-sql-09"),
    "OS_UPGRADE_VERSION": _at_scale("Microsoft Windows Server 2022 (64-bit)"),
    "AZMIGRATEASSESSMENT_NAME": _at_scale("assessment-b", ASSESSING, **ASSESSED),
    "AZMIGRATEGROUP_NAME": _at_scale("group-b", ASSESSING, **ASSESSED),
    "SQL_SERVER_LICENSE_TYPE": _at_scale("PAYG"),
    "TAG_KEY": _at_scale("env,team"), "TAG_VALUE": _at_scale("prod,db"),
    "VM_TAG_KEY": _at_scale("owner"), "VM_TAG_VALUE": _at_scale("dba"),
    "DISK_TAG_KEY": _at_scale("tier"), "DISK_TAG_VALUE": _at_scale("hourly"),
    "NIC_TAG_KEY": _at_scale("zone", {"NIC_TAG_KEY": "area", "NIC_TAG_VALUE": "dmz"}),
    "NIC_TAG_VALUE": _at_scale("lan", {"NIC_TAG_KEY": "zone", "NIC_TAG_VALUE": "dmz"}),
    "TEST_VNET_NAME": _at_scale("vnet-test2", {"TESTMIGRATE_VNET_NAME": ""}),
    "TEST_SUBNET_NAME": _at_scale("snet-test2"),
    "TEST_NETWORK_ID": Sample(TEST_VNET_ID, {"TESTMIGRATE_VNET_NAME": "", "TEST_NETWORK_ID": TEST_VNET_ID + "-2"},
                              AT_SCALE, DATA / "input-2020-layout.csv"),
    "TARGET_SUBSCRIPTION_ID": _at_scale(OTHER_SUBSCRIPTION), "TARGET_RESOURCE_GROUP_NAME": _at_scale("rg-other"),
    "TARGET_VNET_NAME": _at_scale("vnet-other"), "TARGET_SUBNET_NAME": _at_scale("snet-other"),
    "TARGET_MACHINE_NAME": _at_scale("win-sql-09"), "TARGET_MACHINE_SIZE": _at_scale("Standard_D8s_v5"),
    "LICENSE_TYPE": _at_scale("NoLicenseType"), "OS_DISK_ID": _at_scale("2"),
    "DATA_DISK1_ID": _at_scale("2", {"UPDATED_TARGET_DATA_DISK1_NAME": "sql-data1"}),
    "DATA_DISK2_ID": _at_scale("3", {"UPDATED_TARGET_DATA_DISK2_NAME": "sql-data2"}),
    "TARGET_DISKTYPE": _at_scale("Standard_LRS"),
    "AVAILABILITYZONE_NUMBER": _at_scale("1", {"AVAILABILITYSET_NAME": ""}),
    "AVAILABILITYSET_NAME": _at_scale("avset-other"), "TURNOFF_SOURCESERVER": _at_scale("N"),
    "TESTMIGRATE_VNET_NAME": _at_scale("vnet-test2"),
    "UPDATED_TEST_VNET_NAME": _at_scale("vnet-test2", {"TESTMIGRATE_VNET_NAME": ""}),
    **{f"UPDATED_{kind}_{part}": _tag_update(kind, value)
       for kind in ("TAG", "VMTAG", "DISKTAG", "NICTAG")
       for part, value in (("KEY", "team"), ("VALUE", "test"), ("OPERATION", "Replace"))},
    "UPDATED_TARGET_RESOURCE_GROUP_NAME": _at_scale("rg-other"), "UPDATED_TARGET_VNET_NAME": _at_scale("vnet-other"),
    "UPDATED_TARGET_MACHINE_NAME": _at_scale("win-sql-09"), "UPDATED_TARGET_DISK_NAME": _at_scale("sql-os"),
    "UPDATED_TARGET_OS_DISK_NAME": _at_scale("sql-os"),
    "UPDATED_TARGET_DATA_DISK1_NAME": _at_scale("sql-data1", {"DATA_DISK1_ID": "2"}),
    "UPDATED_TARGET_DATA_DISK2_NAME": _at_scale("sql-data2", {"DATA_DISK2_ID": "3"}),
    "UPDATED_TARGET_MACHINE_SIZE": _at_scale("Standard_D8s_v5"),
    "UPDATED_AVAILABILITYZONE_NUMBER": _at_scale("2", {"AVAILABILITYSET_NAME": ""}),
    "UPDATED_AVAILABILITYSET_NAME": _at_scale("avset-other"),
    **{f"{prefix}{n}_ID": _at_scale("4000") for prefix in ("UPDATED_NIC", "TFO_NIC", "UPDATE_NIC") for n in (1, 2)},
    "UPDATED_TARGET_NIC1_NAME": _at_scale("sql-nic1"), "UPDATED_TARGET_NIC1_SELECTIONTYPE": _at_scale("Secondary"),
    "UPDATED_TARGET_NIC1_SUBNET_NAME": _at_scale("snet-other"), "UPDATED_TARGET_NIC1_IP": _at_scale("10.20.2.11"),
    "UPDATED_TARGET_NIC1_TEST_IP": _at_scale("10.30.2.11"),
    "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME": _at_scale("snet-other", {"TFO_NIC1_TEST_SUBNET_NAME": ""}),
    "TFO_NIC1_TEST_SUBNET_NAME": _at_scale("snet-other"),
    "UPDATED_TARGET_NIC2_NAME": _at_scale("sql-nic2"), "UPDATED_TARGET_NIC2_SELECTIONTYPE": _at_scale("DoNotCreate"),
    "UPDATED_TARGET_NIC2_SUBNET_NAME": _at_scale("snet-app"), "UPDATED_TARGET_NIC2_IP": _at_scale("10.20.1.50"),
    "UPDATED_TARGET_NIC2_TEST_IP": _at_scale("10.30.1.50"),
    "UPDATED_TARGET_NIC2_TEST_SUBNET_NAME": _at_scale("snet-app"), "TFO_NIC2_TEST_SUBNET_NAME": _at_scale("snet-app"),
    "OK_TO_UPDATE": _at_scale("N"), "OK_TO_MIGRATE": _at_scale("N"),
    "OK_TO_USE_ASSESSMENT": _at_scale("Y", {"AZMIGRATEASSESSMENT_NAME": "assessment-a",
                                            "AZMIGRATEGROUP_NAME": "group-sql"}, **ASSESSED),
    "OK_TO_TESTMIGRATE": _at_scale("N"), "OK_TO_RETRIEVE_REPLICATIONSTATUS": _at_scale("N"),
    "OK_TO_CLEANUP": _at_scale("N"), "OK_TO_TESTMIGRATE_CLEANUP": _at_scale("N"),
}
SAMPLES = {PlanFormat.VMSHIFT: VMSHIFT_SAMPLES, PlanFormat.AZURE_MIGRATE: AT_SCALE_SAMPLES}


def _validate(tmp_path: Path, sample: Sample, cells: dict[str, str], name: str) -> PlanValidation:
    rows = example_rows(sample.example)
    rows[0].update(sample.context | cells)
    options = {"now": NOW} | sample.options
    return validate_plan(write_rows(tmp_path / name, rows), **options)


def _plan(result: PlanValidation) -> list:
    """The plan as a user sees it, row numbers aside."""
    return [(wave.name, wave.start_at, wave.cutover_window, [replace(vm, row=0) for vm in wave.vms])
            for wave in result.plan.waves]


def _cases() -> list:
    return [pytest.param(plan_format, column, id=f"{plan_format}-{column}")
            for plan_format, rules in RULES.items() for column in rules]


@pytest.mark.parametrize(("plan_format", "column"), _cases())
def test_a_column_does_what_its_rule_says(tmp_path, plan_format, column):
    rule, sample = RULES[plan_format][column], SAMPLES[plan_format][column]
    before = _validate(tmp_path, sample, {}, "before.csv")
    after = _validate(tmp_path, sample, {column: sample.value}, "after.csv")

    assert before.ok, before.text()
    if rule.outcome is Outcome.CARRIED_OUT:
        assert after.ok, after.text()
        assert _plan(after) != _plan(before), f"{column}={sample.value!r} changed nothing: dropped"
    elif rule.outcome is Outcome.REFUSED:
        assert not after.ok and after.plan is None
        assert any(error.row == 2 and error.column == column for error in after.errors), after.text()
    else:
        assert after.ok, after.text()
        assert _plan(after) == _plan(before)
        assert any(warning.column == column for warning in after.warnings), after.text()


def test_every_column_a_reader_takes_has_a_rule_and_a_sample():
    for plan_format in PlanFormat:
        assert columns_without_rule(plan_format) == []
        assert rules_without_column(plan_format) == []
        assert set(SAMPLES[plan_format]) == read_columns(plan_format)


def test_a_column_added_without_a_rule_is_named(monkeypatch):
    extra = Column("colour", False, "a colour", str, doc="The VM's colour.")
    monkeypatch.setattr(rules_module, "COLUMNS", (*COLUMNS, extra))

    assert columns_without_rule(PlanFormat.VMSHIFT) == ["colour"]


def test_the_docs_show_the_rules_the_code_keeps():
    docs = DOCS.read_text(encoding="utf-8")

    for plan_format in PlanFormat:
        assert rules_table(plan_format) in docs, f"docs/wave-plan.md: regenerate the {plan_format} rules table " \
                                                 "with `python -m vmshift.plan.rules`"
