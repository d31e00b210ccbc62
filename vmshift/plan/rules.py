"""One rule for every column a wave plan may have, in vmshift's format and in Azure Migrate's Input.csv.

A column's value is carried out, or refused with a row-level error that names the column and says what to do,
or, only where Azure Migrate itself ignores the value, reported in a warning that names the column. Nothing is
dropped without a word. docs/wave-plan.md shows these tables; tests/plan/test_plan_column_rules.py holds the
readers to them, column by column, and fails for a column that has no rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vmshift.plan.azure_migrate import CURRENT_TEMPLATE, KNOWN_COLUMNS, README_SPELLINGS
from vmshift.plan.columns import COLUMNS
from vmshift.plan.schema import PlanFormat


class Outcome(StrEnum):
    CARRIED_OUT = "carried out"
    REFUSED = "refused"
    WARNED = "warned"


@dataclass(frozen=True)
class ColumnRule:
    column: str
    outcome: Outcome  # what a valid value of the column gets
    rule: str  # who carries it out, or why it is refused or only warned about


def _rules(outcome: Outcome, rules: dict[str, str]) -> dict[str, ColumnRule]:
    return {column: ColumnRule(column, outcome, rule) for column, rule in rules.items()}


# vmshift's own format: each column is carried out by the step named.
VMSHIFT_RULES = _rules(Outcome.CARRIED_OUT, {
    "wave": "plan upload schedules one migrate-wave run per wave",
    "source_vm": "the VM read from vCenter (by name or moref)",
    "vcenter": "validation: a configured vCenter (VMSHIFT_VCENTERS), else the row is refused",
    "target_subscription": "every resource of the VM created there; its VNets looked up there",
    "region": "the location of the VM, its disks and NICs",
    "resource_group": "the VM, its disks and NICs created there",
    "target_vm_name": "the VM's name (`-test` appended for a test migration)",
    "cache_storage_account": "where the VM's disks are replicated",
    "target_vnet": "the VNet of the VM's NICs",
    "target_subnet": "the subnet of the primary NIC and of every NIC the plan gives no subnet",
    "test_vnet": "the VNet of the test migration's NICs",
    "test_subnet": "the test subnet of every NIC the plan gives none",
    "vm_size": "the VM's size (checked against the region's offer)",
    "os_type": "the OS of the VM and its OS disk; checked against vCenter's guest OS",
    "os_disk": "the disk the VM boots from",
    "disk_type": "the managed disk type of every disk without its own",
    "disks": "only the disks listed are read, sent and built, each with its type",
    "availability_zone": "the zone of the VM and its disks",
    "availability_set": "the availability set of the VM",
    "encryption": "the managed disks' encryption type",
    "disk_encryption_set": "the managed disks' disk encryption set",
    "hybrid_benefit": "licenseType Windows_Server on the VM",
    "sql_license": "a Microsoft.SqlVirtualMachine/sqlVirtualMachines resource with that licence (Windows only)",
    "tags": "tags on the VM, its disks and NICs",
    "vm_tags": "tags on the VM",
    "disk_tags": "tags on the managed disks",
    "nic_tags": "tags on the NICs",
    "nics": "every NIC built in its subnet with its static or dynamic IP, primary first; DoNotCreate: not built; "
            "the test migration uses each NIC's test subnet and IP",
    "disk_names": "the managed disks' names",
    "hooks": "the appliance's declared hooks run for this VM at each moment",
    "appliance": "the VM's runs (replication, delta cycles) go to that appliance's own queue, with dispatch",
    "start_time": "the wave's scheduled start",
    "cutover_window": "the cutover gate: refused outside the window",
    "cutover_at": "plan upload schedules the VM's (or its group's) cutover run then",
    "application_group": "its VMs cut over together or not at all",
    "turn_off_source": "the source shut down at cutover, or left running",
    "allow_test_migration": "test-migrate refuses the VM when no",
    "allow_cutover": "cutover refuses the VM when no",
    "allow_test_cleanup": "cleanup-test refuses the VM when no",
    "allow_complete": "complete refuses the VM when no",
    "prepare_os": "test migration and cutover import the OS disk from its prepared copy (docs/os-preparation.md); "
                  "no: as replicated",
})

_UPDATE = "with OK_TO_UPDATE=Y; else warned, as UpdateMachineProperties.ps1 skips the row"
AT_SCALE_RULES: dict[str, ColumnRule] = {
    **_rules(Outcome.CARRIED_OUT, {
        "AZMIGRATEPROJECT_SUBSCRIPTION_ID": "target_subscription when TARGET_SUBSCRIPTION_ID is empty",
        "AZMIGRATE_APPLIANCE_NAME": "appliance: only that appliance runs the VM's replication and delta cycles",
        "SOURCE_MACHINE_NAME": "source_vm (required)",
        "AZMIGRATEASSESSMENT_NAME": "with OK_TO_USE_ASSESSMENT=Y: the --assessment file's rows of that assessment; "
                                    "else warned, as the scripts ignore it",
        "AZMIGRATEGROUP_NAME": "with OK_TO_USE_ASSESSMENT=Y: the --assessment file's rows of that group; else warned",
        "SQL_SERVER_LICENSE_TYPE": f"sql_license: PAYG, AHUB, NoLicenseType or empty (the scripts' values), {_UPDATE}",
        "TAG_KEY": "tags, with TAG_VALUE (comma-separated, as many values as names)",
        "TAG_VALUE": "tags, with TAG_KEY",
        "VM_TAG_KEY": "vm_tags, with VM_TAG_VALUE",
        "VM_TAG_VALUE": "vm_tags, with VM_TAG_KEY",
        "DISK_TAG_KEY": "disk_tags, with DISK_TAG_VALUE",
        "DISK_TAG_VALUE": "disk_tags, with DISK_TAG_KEY",
        "NIC_TAG_KEY": "nic_tags, with NIC_TAG_VALUE",
        "NIC_TAG_VALUE": "nic_tags, with NIC_TAG_KEY",
        "TEST_VNET_NAME": "test_vnet, after TESTMIGRATE_VNET_NAME and UPDATED_TEST_VNET_NAME",
        "TEST_SUBNET_NAME": "test_subnet (required with TEST_VNET_NAME, as StartReplication.ps1 requires it)",
        "TEST_NETWORK_ID": "(template before September 2023) test_vnet by resource id, after TESTMIGRATE_VNET_NAME",
        "TARGET_SUBSCRIPTION_ID": "target_subscription",
        "TARGET_RESOURCE_GROUP_NAME": "resource_group (required)",
        "TARGET_VNET_NAME": "target_vnet (required)",
        "TARGET_SUBNET_NAME": "target_subnet; empty: default, as the scripts",
        "TARGET_MACHINE_NAME": "target_vm_name; empty: the source name",
        "TARGET_MACHINE_SIZE": "vm_size, unless an assessment (OK_TO_USE_ASSESSMENT=Y) recommends one",
        "LICENSE_TYPE": "hybrid_benefit: WindowsServer yes; NoLicenseType or empty no",
        "OS_DISK_ID": "os_disk, as a disk number; an Azure Migrate disk UUID is refused",
        "DATA_DISK1_ID": "the disk UPDATED_TARGET_DATA_DISK1_NAME names (a number); without that name warned, as "
                         "the scripts use it for nothing else",
        "DATA_DISK2_ID": "the disk UPDATED_TARGET_DATA_DISK2_NAME names; without that name warned",
        "TARGET_DISKTYPE": "disk_type: Premium_LRS, StandardSSD_LRS, Standard_LRS (the scripts' values), unless an "
                           "assessment recommends the disk's type",
        "AVAILABILITYZONE_NUMBER": "availability_zone",
        "AVAILABILITYSET_NAME": "availability_set",
        "TURNOFF_SOURCESERVER": "turn_off_source: Y or Yes; N, No or empty: left running",
        "TESTMIGRATE_VNET_NAME": "test_vnet of the test migration, winning over the others",
        "UPDATED_TEST_VNET_NAME": f"test_vnet, after TESTMIGRATE_VNET_NAME, {_UPDATE}",
        "UPDATED_TARGET_RESOURCE_GROUP_NAME": f"resource_group, {_UPDATE}",
        "UPDATED_TARGET_VNET_NAME": f"target_vnet, {_UPDATE}",
        "UPDATED_TARGET_MACHINE_NAME": f"target_vm_name, {_UPDATE}",
        "UPDATED_TARGET_DISK_NAME": f"the OS disk's name, {_UPDATE}",
        "UPDATED_TARGET_OS_DISK_NAME": f"the OS disk's name when OS_DISK_ID is given (else warned), {_UPDATE}",
        "UPDATED_TARGET_DATA_DISK1_NAME": f"the name of DATA_DISK1_ID's disk (else warned), {_UPDATE}",
        "UPDATED_TARGET_DATA_DISK2_NAME": f"the name of DATA_DISK2_ID's disk (else warned), {_UPDATE}",
        "UPDATED_TARGET_MACHINE_SIZE": f"vm_size, winning over an assessment, {_UPDATE}",
        "UPDATED_AVAILABILITYZONE_NUMBER": f"availability_zone, {_UPDATE}",
        "UPDATED_AVAILABILITYSET_NAME": f"availability_set, {_UPDATE}",
        "OK_TO_UPDATE": "Y: the UPDATED_* columns and SQL_SERVER_LICENSE_TYPE apply",
        "OK_TO_MIGRATE": "not Y: the VM is left out of the plan (a warning lists it), as the scripts neither "
                         "replicate nor migrate it",
        "OK_TO_USE_ASSESSMENT": "Y: VM size and disk types from the --assessment file; refused without one",
        "OK_TO_TESTMIGRATE": "allow_test_migration: Y only",
        "OK_TO_CLEANUP": "allow_complete: Y only",
        "OK_TO_TESTMIGRATE_CLEANUP": "allow_test_cleanup: Y only",
    }),
    **_rules(Outcome.CARRIED_OUT, {
        f"UPDATED_{kind}_{part}": f"{what}, with its KEY, VALUE and OPERATION (Merge, Replace, Delete, as "
                                  f"Set-AzMigrateServerReplication applies them; one missing is refused), {_UPDATE}"
        for kind, what in (("TAG", "tags of the VM, disks and NICs"), ("VMTAG", "vm_tags"),
                           ("DISKTAG", "disk_tags"), ("NICTAG", "nic_tags"))
        for part in ("KEY", "VALUE", "OPERATION")
    }),
    **_rules(Outcome.CARRIED_OUT, {
        f"UPDATED_TARGET_NIC{n}_{part}": f"nics: NIC {n}'s {what}, {_UPDATE}"
        for n in (1, 2)
        for part, what in (("NAME", "name"), ("SELECTIONTYPE", "selection (Primary, Secondary, DoNotCreate)"),
                           ("SUBNET_NAME", "subnet"), ("IP", "static IP (auto or empty: dynamic)"),
                           ("TEST_IP", "static test IP"), ("TEST_SUBNET_NAME", f"test subnet, after TFO_NIC{n}_"
                                                                               "TEST_SUBNET_NAME"))
    }),
    **_rules(Outcome.CARRIED_OUT, {
        f"TFO_NIC{n}_TEST_SUBNET_NAME": f"nics: NIC {n}'s test subnet for the test migration, winning over "
                                        f"UPDATED_TARGET_NIC{n}_TEST_SUBNET_NAME"
        for n in (1, 2)
    }),
    **_rules(Outcome.REFUSED, {
        "OS_UPGRADE_VERSION": "vmshift migrates the guest OS as it is; leave it empty and upgrade before or after",
        **{column: f"vmshift maps NIC{column[-4]} to the VM's NIC number {column[-4]}, as the scripts do when the id "
                   "is empty; leave it empty"
           for column in ("UPDATED_NIC1_ID", "UPDATED_NIC2_ID", "TFO_NIC1_ID", "TFO_NIC2_ID", "UPDATE_NIC1_ID",
                          "UPDATE_NIC2_ID")},
    }),
    **_rules(Outcome.WARNED, {
        "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME": "Azure Migrate finds the VM in its project; vmshift finds it in "
                                                "vCenter by SOURCE_MACHINE_NAME",
        "AZMIGRATEPROJECT_NAME": "as AZMIGRATEPROJECT_RESOURCE_GROUP_NAME",
        "OK_TO_RETRIEVE_REPLICATIONSTATUS": "N only leaves the VM out of the status script's report; "
                                            "`vmshift status` reports what it is asked",
    }),
}

RULES: dict[PlanFormat, dict[str, ColumnRule]] = {PlanFormat.VMSHIFT: VMSHIFT_RULES,
                                                  PlanFormat.AZURE_MIGRATE: AT_SCALE_RULES}


def read_columns(plan_format: PlanFormat) -> frozenset[str]:
    """Every column the format's reader takes."""
    if plan_format is PlanFormat.VMSHIFT:
        return frozenset(column.name for column in COLUMNS)
    return KNOWN_COLUMNS


def columns_without_rule(plan_format: PlanFormat) -> list[str]:
    """Columns the reader takes that no rule covers: each would be read and then, perhaps, dropped."""
    return sorted(read_columns(plan_format) - RULES[plan_format].keys())


def rules_without_column(plan_format: PlanFormat) -> list[str]:
    return sorted(RULES[plan_format].keys() - read_columns(plan_format))


def rules_table(plan_format: PlanFormat) -> str:
    """The format's rules as the Markdown table docs/wave-plan.md shows, in the order the reader lists columns."""
    order = [column.name for column in COLUMNS] if plan_format is PlanFormat.VMSHIFT else \
        [*CURRENT_TEMPLATE, "TEST_NETWORK_ID", *README_SPELLINGS]
    lines = ["| column | outcome | rule |", "| --- | --- | --- |"]
    lines += [f"| `{rule.column}` | {rule.outcome} | {rule.rule} |"
              for rule in (RULES[plan_format][column] for column in order if column in RULES[plan_format])]
    return "\n".join(lines)


if __name__ == "__main__":
    for plan_format in PlanFormat:
        print(f"{plan_format}:\n{rules_table(plan_format)}\n")
