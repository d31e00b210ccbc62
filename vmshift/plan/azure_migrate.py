"""The CSV of Azure Migrate's at-scale automation scripts (`Input.csv` of "Agentless VMware
automation" in Azure/azure-docs-powershell-samples), mapped column by column onto vmshift's plan.

What maps is honoured with the scripts' meaning (AzMigrate_StartReplication.ps1,
AzMigrate_UpdateMachineProperties.ps1, AzMigrate_StartTestMigration.ps1, AzMigrate_StartMigration.ps1):
an `UPDATED_*` value wins over the original, Y/N switches are on only when `Y`. A column vmshift
cannot honour is a warning naming it. What the format lacks (wave, start time, region, cache
storage account) comes from options or a small waves file keyed by `source_vm`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vmshift.plan.columns import COLUMNS_BY_NAME, clipped, shown
from vmshift.plan.csv_reader import RawRow, Table, normalise_column
from vmshift.plan.schema import NicSelection, PlanError, PlanWarning

DEFAULT_WAVE = "wave-1"

TEMPLATE_COLUMNS = (
    "AZMIGRATEPROJECT_SUBSCRIPTION_ID", "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME", "AZMIGRATEPROJECT_NAME",
    "AZMIGRATE_APPLIANCE_NAME", "SOURCE_MACHINE_NAME", "OS_UPGRADE_VERSION", "AZMIGRATEASSESSMENT_NAME",
    "AZMIGRATEGROUP_NAME", "SQL_SERVER_LICENSE_TYPE", "TAG_KEY", "TAG_VALUE", "VM_TAG_KEY", "VM_TAG_VALUE",
    "DISK_TAG_KEY", "DISK_TAG_VALUE", "NIC_TAG_KEY", "NIC_TAG_VALUE", "TEST_NETWORK_ID", "TARGET_SUBSCRIPTION_ID",
    "TARGET_RESOURCE_GROUP_NAME", "TARGET_VNET_NAME", "TARGET_SUBNET_NAME", "TARGET_MACHINE_NAME",
    "TARGET_MACHINE_SIZE", "LICENSE_TYPE", "OS_DISK_ID", "DATA_DISK1_ID", "DATA_DISK2_ID", "TARGET_DISKTYPE",
    "AVAILABILITYZONE_NUMBER", "AVAILABILITYSET_NAME", "TURNOFF_SOURCESERVER", "TESTMIGRATE_VNET_NAME",
    "UPDATED_TAG_KEY", "UPDATED_TAG_VALUE", "UPDATED_TAG_OPERATION", "UPDATED_VMTAG_KEY", "UPDATED_VMTAG_VALUE",
    "UPDATED_VMTAG_OPERATION", "UPDATED_DISKTAG_KEY", "UPDATED_DISKTAG_VALUE", "UPDATED_DISKTAG_OPERATION",
    "UPDATED_NICTAG_KEY", "UPDATED_NICTAG_VALUE", "UPDATED_NICTAG_OPERATION", "UPDATED_TARGET_RESOURCE_GROUP_NAME",
    "UPDATED_TARGET_VNET_NAME", "UPDATED_TARGET_MACHINE_NAME", "UPDATED_TARGET_DISK_NAME",
    "UPDATED_TARGET_OS_DISK_NAME", "UPDATED_TARGET_DATA_DISK1_NAME", "UPDATED_TARGET_DATA_DISK2_NAME",
    "UPDATED_TARGET_MACHINE_SIZE", "UPDATED_AVAILABILITYZONE_NUMBER", "UPDATED_AVAILABILITYSET_NAME",
    "UPDATED_NIC1_ID", "UPDATED_TARGET_NIC1_NAME", "UPDATED_TARGET_NIC1_SELECTIONTYPE",
    "UPDATED_TARGET_NIC1_SUBNET_NAME", "UPDATED_TARGET_NIC1_IP", "UPDATED_TARGET_NIC1_TEST_IP",
    "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME", "UPDATED_NIC2_ID", "UPDATED_TARGET_NIC2_NAME",
    "UPDATED_TARGET_NIC2_SELECTIONTYPE", "UPDATED_TARGET_NIC2_SUBNET_NAME", "UPDATED_TARGET_NIC2_IP",
    "UPDATED_TARGET_NIC2_TEST_IP", "UPDATED_TARGET_NIC2_TEST_SUBNET_NAME", "OK_TO_UPDATE", "OK_TO_MIGRATE",
    "OK_TO_USE_ASSESSMENT", "OK_TO_TESTMIGRATE", "OK_TO_RETRIEVE_REPLICATIONSTATUS", "OK_TO_CLEANUP",
    "OK_TO_TESTMIGRATE_CLEANUP",
)
# AzMigrate_StartReplication.ps1 reads the first two although the template lacks them; the docs of the
# scripts spell the NIC ids UPDATE_NICn_ID.
SCRIPT_COLUMNS = ("TEST_VNET_NAME", "TEST_SUBNET_NAME", "UPDATE_NIC1_ID", "UPDATE_NIC2_ID")
KNOWN_COLUMNS = frozenset(TEMPLATE_COLUMNS + SCRIPT_COLUMNS)

# our column ← the at-scale columns that give it, the first non-empty winning (UPDATED_* first, as
# AzMigrate_UpdateMachineProperties.ps1 changes what StartReplication set).
_DIRECT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("source_vm", ("SOURCE_MACHINE_NAME",)),
    # The scripts stay in the project's subscription when TARGET_SUBSCRIPTION_ID is empty.
    ("target_subscription", ("TARGET_SUBSCRIPTION_ID", "AZMIGRATEPROJECT_SUBSCRIPTION_ID")),
    ("resource_group", ("UPDATED_TARGET_RESOURCE_GROUP_NAME", "TARGET_RESOURCE_GROUP_NAME")),
    ("target_vnet", ("UPDATED_TARGET_VNET_NAME", "TARGET_VNET_NAME")),
    ("target_subnet", ("TARGET_SUBNET_NAME",)),
    ("target_vm_name", ("UPDATED_TARGET_MACHINE_NAME", "TARGET_MACHINE_NAME")),
    ("vm_size", ("UPDATED_TARGET_MACHINE_SIZE", "TARGET_MACHINE_SIZE")),
    ("disk_type", ("TARGET_DISKTYPE",)),
    ("availability_zone", ("UPDATED_AVAILABILITYZONE_NUMBER", "AVAILABILITYZONE_NUMBER")),
    ("availability_set", ("UPDATED_AVAILABILITYSET_NAME", "AVAILABILITYSET_NAME")),
    ("sql_license", ("SQL_SERVER_LICENSE_TYPE",)),
    ("test_vnet", ("TESTMIGRATE_VNET_NAME", "TEST_VNET_NAME")),
    ("test_subnet", ("TEST_SUBNET_NAME", "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME")),
)
# StartReplication.ps1 uses the subnet "default" when TARGET_SUBNET_NAME is empty.
_DEFAULT_SUBNET = "default"
REQUIRED = ("SOURCE_MACHINE_NAME", "TARGET_RESOURCE_GROUP_NAME", "TARGET_VNET_NAME")

# Switches the scripts test with `-ne 'Y'`: anything but Y is off.
_SWITCHES = (
    ("turn_off_source", "TURNOFF_SOURCESERVER"),
    ("allow_cutover", "OK_TO_MIGRATE"),
    ("allow_test_migration", "OK_TO_TESTMIGRATE"),
)
_TAGS = (
    ("tags", "TAG_KEY", "TAG_VALUE"),
    ("vm_tags", "VM_TAG_KEY", "VM_TAG_VALUE"),
    ("disk_tags", "DISK_TAG_KEY", "DISK_TAG_VALUE"),
    ("nic_tags", "NIC_TAG_KEY", "NIC_TAG_VALUE"),
)
_LICENSES = {"": "no", "nolicensetype": "no", "windowsserver": "yes"}

_ASSESSMENT = "assessments are not read; the size and disk type come from TARGET_MACHINE_SIZE and TARGET_DISKTYPE"
_TAG_UPDATES = ("tag updates of a replicating VM are not applied; put the final tags in TAG_*, VM_TAG_*, "
                "DISK_TAG_* and NIC_TAG_*")
_DISK_NAMES = "vmshift names the managed disks after the target VM"
# Columns with no vmshift meaning: a warning names each one that has a value.
NOT_HONOURED: dict[str, str] = {
    "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME": "vmshift has no Azure Migrate project; the VM is found in vCenter "
                                            "by SOURCE_MACHINE_NAME",
    "AZMIGRATEPROJECT_NAME": "vmshift has no Azure Migrate project; the VM is found in vCenter by "
                             "SOURCE_MACHINE_NAME",
    "AZMIGRATE_APPLIANCE_NAME": "vmshift is the replication appliance; the vCenter is the configured one "
                                "(VMSHIFT_VCENTER_URL) or the waves file's vcenter",
    "OS_UPGRADE_VERSION": "vmshift does not upgrade the guest OS during migration; the OS is migrated as it is",
    "AZMIGRATEASSESSMENT_NAME": _ASSESSMENT,
    "AZMIGRATEGROUP_NAME": _ASSESSMENT,
    "DATA_DISK1_ID": "every disk of the VM is replicated (as the scripts do); disk ids are not used",
    "DATA_DISK2_ID": "every disk of the VM is replicated (as the scripts do); disk ids are not used",
    "UPDATED_NIC1_ID": "NICs are mapped by position: NIC1 is the VM's first NIC",
    "UPDATED_NIC2_ID": "NICs are mapped by position: NIC2 is the VM's second NIC",
    "UPDATE_NIC1_ID": "NICs are mapped by position: NIC1 is the VM's first NIC",
    "UPDATE_NIC2_ID": "NICs are mapped by position: NIC2 is the VM's second NIC",
    "UPDATED_TARGET_NIC1_NAME": "vmshift names the NICs after the target VM",
    "UPDATED_TARGET_NIC2_NAME": "vmshift names the NICs after the target VM",
    "UPDATED_TARGET_DISK_NAME": _DISK_NAMES,
    "UPDATED_TARGET_OS_DISK_NAME": _DISK_NAMES,
    "UPDATED_TARGET_DATA_DISK1_NAME": _DISK_NAMES,
    "UPDATED_TARGET_DATA_DISK2_NAME": _DISK_NAMES,
    **{f"UPDATED_{kind}_{part}": _TAG_UPDATES for kind in ("TAG", "VMTAG", "DISKTAG", "NICTAG")
       for part in ("KEY", "VALUE", "OPERATION")},
}
# Switches of script runs vmshift has no gate for: a warning when one says N.
SWITCHES_NOT_GATED: dict[str, str] = {
    "OK_TO_UPDATE": "the plan holds the VM's settings; upload a changed plan to change them",
    "OK_TO_RETRIEVE_REPLICATIONSTATUS": "`vmshift status` always reports every VM",
    "OK_TO_CLEANUP": "vmshift never stops a replication unless asked with rollback",
    "OK_TO_TESTMIGRATE_CLEANUP": "cleanup-test always cleans up the test migration it is asked to",
}

# What a waves file may give per VM: the plan columns the at-scale format lacks.
WAVES_FILE_COLUMNS = ("wave", "start_time", "region", "cache_storage_account", "vcenter", "os_type", "encryption",
                      "disk_encryption_set", "cutover_window", "cutover_at", "application_group")

_VNET_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
                      r"virtualNetworks/([^/]+)/?", re.IGNORECASE)


@dataclass(frozen=True)
class AtScaleDefaults:
    """Plan-wide values for what the at-scale format lacks (from `plan validate/upload` options)."""

    wave: str | None = None
    region: str | None = None
    cache_storage_account: str | None = None


def read_azure_migrate(
    table: Table, defaults: AtScaleDefaults, waves: Table | None = None, waves_name: str = "waves file"
) -> tuple[list[RawRow], list[PlanError], list[PlanWarning]]:
    """Map at-scale records onto vmshift's columns (values still text; validation types them)."""
    errors: list[PlanError] = []
    header: dict[str, str] = {}
    for label in table.header:
        name = label.strip().upper()
        if not name:
            errors.append(PlanError(1, None, "a column has no name; remove the empty column or name it"))
        elif name in header:
            errors.append(PlanError(1, clipped(label), "the column appears twice; allowed: each column once"))
        elif name not in KNOWN_COLUMNS:
            errors.append(PlanError(1, clipped(label), "unknown column: not in the at-scale scripts' Input.csv "
                                                       "template; check its spelling"))
        else:
            header[name] = label
    errors.extend(PlanError(1, name, "required column is missing") for name in REQUIRED if name not in header)
    if "TARGET_SUBSCRIPTION_ID" not in header and "AZMIGRATEPROJECT_SUBSCRIPTION_ID" not in header:
        errors.append(PlanError(1, "TARGET_SUBSCRIPTION_ID", "required column is missing (or "
                                                             "AZMIGRATEPROJECT_SUBSCRIPTION_ID)"))
    records = [(record.row, {name: record.cells[label] for name, label in header.items()})
               for record in table.records]
    per_vm, waves_errors = _read_waves_file(waves, waves_name, {cells.get("SOURCE_MACHINE_NAME", "")
                                                                 for _, cells in records})
    errors.extend(waves_errors)
    for column, option in (("region", defaults.region), ("cache_storage_account", defaults.cache_storage_account)):
        lacking = [row for row, cells in records
                   if column not in per_vm.get(cells.get("SOURCE_MACHINE_NAME", ""), ({}, {}))[0]]
        if not option and lacking:
            errors.append(PlanError(1, column, f"the at-scale format has no {column}; allowed: pass "
                                               f"--{column.replace('_', '-')}, or give it in a waves file"))
    rows = []
    for row, cells in records:
        values, labels, row_errors = _map_record(row, cells, header)
        errors.extend(row_errors)
        given, given_labels = per_vm.get(cells.get("SOURCE_MACHINE_NAME", ""), ({}, {}))
        for column, option in (("wave", defaults.wave or DEFAULT_WAVE), ("region", defaults.region),
                               ("cache_storage_account", defaults.cache_storage_account)):
            if option:
                values[column], labels[column] = option, f"--{column.replace('_', '-')}"
        values |= given
        labels |= given_labels
        rows.append(RawRow(row, values, labels))
    return rows, errors, _warnings(records)


def _map_record(row: int, cells: dict[str, str], header: dict[str, str]) -> tuple[dict, dict, list[PlanError]]:
    values: dict[str, str] = {}
    labels: dict[str, str] = {}
    errors: list[PlanError] = []
    for column, sources in _DIRECT:
        present = [source for source in sources if source in header]
        if not present:
            continue
        source = next((source for source in present if cells[source]), present[0])
        values[column], labels[column] = cells[source], header[source]
    if not values.get("target_subnet"):
        values["target_subnet"] = _DEFAULT_SUBNET
    if not values.get("test_vnet") and cells.get("TEST_NETWORK_ID"):
        match = _VNET_ID.fullmatch(cells["TEST_NETWORK_ID"])
        if match:
            values["test_vnet"], labels["test_vnet"] = match.group(1), header["TEST_NETWORK_ID"]
        else:
            errors.append(PlanError(row, header["TEST_NETWORK_ID"], "not a virtual network resource id; allowed: "
                                    "/subscriptions/ID/resourceGroups/RG/providers/Microsoft.Network/"
                                    "virtualNetworks/NAME"))
    for column, source in _SWITCHES:
        if source in header:
            values[column], labels[column] = cells[source] or "N", header[source]
    if "LICENSE_TYPE" in header:
        licence = cells["LICENSE_TYPE"]
        if licence.lower() in _LICENSES:
            values["hybrid_benefit"], labels["hybrid_benefit"] = _LICENSES[licence.lower()], header["LICENSE_TYPE"]
        else:
            errors.append(PlanError(row, header["LICENSE_TYPE"], f"{shown(licence)} is not a licence type; "
                                                                 "allowed: NoLicenseType, WindowsServer, or empty"))
    if cells.get("OS_DISK_ID", "").isdecimal():
        values["os_disk"], labels["os_disk"] = cells["OS_DISK_ID"], header["OS_DISK_ID"]
    for column, key_source, value_source in _TAGS:
        tags, error = _tags(row, cells, header, key_source, value_source)
        if error:
            errors.append(error)
        elif tags:
            values[column], labels[column] = tags, header[key_source]
    nics, nic_errors = _nics(row, cells, header)
    errors.extend(nic_errors)
    if nics:
        values["nics"], labels["nics"] = nics, "UPDATED_TARGET_NIC*"
    return values, labels, errors


def _tags(row: int, cells: dict[str, str], header: dict[str, str], key_source: str,
          value_source: str) -> tuple[str, PlanError | None]:
    """`TAG_KEY=a,b` and `TAG_VALUE=1,2` → `a=1;b=2`; lists of different lengths are an error."""
    keys_text, values_text = cells.get(key_source, ""), cells.get(value_source, "")
    if not keys_text and not values_text:
        return "", None
    keys, values = keys_text.split(",") if keys_text else [], values_text.split(",") if values_text else []
    if len(keys) != len(values):
        column = header.get(value_source, value_source) if keys else header.get(key_source, key_source)
        return "", PlanError(row, column, f"{len(keys)} tag name(s) in {key_source} but {len(values)} value(s) in "
                                          f"{value_source}; allowed: as many comma-separated values as names")
    pairs = list(zip((key.strip() for key in keys), (value.strip() for value in values), strict=True))
    if any(";" in text or "=" in text for pair in pairs for text in pair):
        return "", PlanError(row, header[key_source], "a tag name or value contains ';' or '=', which vmshift "
                                                      "cannot carry; allowed: names and values without them")
    return ";".join(f"{key}={value}" for key, value in pairs), None


def _nics(row: int, cells: dict[str, str], header: dict[str, str]) -> tuple[str, list[PlanError]]:
    """UPDATED_TARGET_NICn_* → `n:selection:subnet:ip:test_ip:test_subnet` entries."""
    entries, errors = [], []
    selections = {member.value.lower(): member.value for member in NicSelection}
    for number in (1, 2):
        prefix = f"UPDATED_TARGET_NIC{number}_"
        fields = [cells.get(prefix + part, "") for part in
                  ("SELECTIONTYPE", "SUBNET_NAME", "IP", "TEST_IP", "TEST_SUBNET_NAME")]
        # The scripts' docs: "auto" assigns the IP dynamically, as an empty cell does here.
        fields[2:4] = ["" if address.lower() == "auto" else address for address in fields[2:4]]
        if not any(fields):
            continue
        selection = fields[0] or ("Primary" if number == 1 else "Secondary")
        if selection.lower() not in selections:
            errors.append(PlanError(row, header[prefix + "SELECTIONTYPE"], f"{shown(selection)} is not a NIC "
                                    "selection; allowed: Primary, Secondary, DoNotCreate"))
            continue
        for part, address in (("IP", fields[2]), ("TEST_IP", fields[3])):
            if address:
                try:
                    ipaddress.IPv4Address(address)
                except ValueError:
                    errors.append(PlanError(row, header[prefix + part], f"{shown(address)} is not an IPv4 address; "
                                                                        "allowed: a static private IP of the subnet"))
        if ":" in "".join(fields):
            errors.append(PlanError(row, header.get(prefix + "SUBNET_NAME", prefix), "a NIC field contains ':'; "
                                                                                    "allowed: names without it"))
        entries.append(":".join([str(number), selections[selection.lower()], *fields[1:]]))
    return (";".join(entries), []) if not errors else ("", errors)


def _read_waves_file(
    waves: Table | None, name: str, machines: set[str]
) -> tuple[dict[str, tuple[dict[str, str], dict[str, str]]], list[PlanError]]:
    """Per source VM: values for the columns the at-scale format lacks, with labels naming the file."""
    if waves is None:
        return {}, []
    errors = [PlanError(e.row, f"{name}:{e.column}" if e.column else name, e.message) for e in waves.errors]
    names = {normalise_column(label): label for label in waves.header}
    for column, label in names.items():
        if column != "source_vm" and column not in WAVES_FILE_COLUMNS:
            errors.append(PlanError(1, f"{name}:{clipped(label)}", f"not a waves file column; allowed: source_vm, "
                                                          f"{', '.join(WAVES_FILE_COLUMNS)}"))
    if "source_vm" not in names:
        return {}, [*errors, PlanError(1, f"{name}:source_vm", "required column is missing")]
    per_vm: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for record in waves.records:
        vm = record.cells[names["source_vm"]]
        if vm in per_vm:
            errors.append(PlanError(record.row, f"{name}:source_vm", f"{shown(vm)} is listed twice; allowed: each "
                                                                     "VM once"))
        elif vm not in machines:
            errors.append(PlanError(record.row, f"{name}:source_vm", f"{shown(vm)} is not a SOURCE_MACHINE_NAME of "
                                                                     "the plan; allowed: a VM of the plan"))
        else:
            given = {column: record.cells[label] for column, label in names.items()
                     if column in WAVES_FILE_COLUMNS and record.cells[label] and column in COLUMNS_BY_NAME}
            per_vm[vm] = (given, {column: f"{name} row {record.row}: {column}" for column in given})
    return per_vm, errors


def _warnings(records: list[tuple[int, dict[str, str]]]) -> list[PlanWarning]:
    warnings = []
    for column, reason in NOT_HONOURED.items():
        rows = [row for row, cells in records if cells.get(column)]
        if rows:
            warnings.append(PlanWarning(None, column, f"not honoured: {reason} (rows {_rows(rows)})"))
    for column, reason in SWITCHES_NOT_GATED.items():
        rows = [row for row, cells in records if cells.get(column, "").upper() == "N"]
        if rows:
            warnings.append(PlanWarning(None, column, f"N is not honoured: {reason} (rows {_rows(rows)})"))
    rows = [row for row, cells in records if cells.get("OK_TO_USE_ASSESSMENT", "").upper() == "Y"]
    if rows:
        warnings.append(PlanWarning(None, "OK_TO_USE_ASSESSMENT", f"Y is not honoured: {_ASSESSMENT} "
                                                                  f"(rows {_rows(rows)})"))
    rows = [row for row, cells in records if cells.get("OS_DISK_ID") and not cells["OS_DISK_ID"].isdecimal()]
    if rows:
        warnings.append(PlanWarning(None, "OS_DISK_ID", "Azure Migrate disk ids are not known to vmshift; the OS disk "
                                    "is Hard disk 1, as the scripts pick scsi0:0 when no id matches; give a disk "
                                    f"number (1, 2...) to choose another (rows {_rows(rows)})"))
    return warnings


def _rows(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
