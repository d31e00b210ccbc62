"""The CSV of Azure Migrate's at-scale automation scripts (`Input.csv` of "Agentless VMware automation" in
Azure/azure-docs-powershell-samples), mapped column by column onto vmshift's plan.

Every column acts as the scripts make it act (AzMigrate_StartReplication.ps1, AzMigrate_UpdateMachineProperties.ps1,
AzMigrate_StartTestMigration.ps1, AzMigrate_StartMigration.ps1, and Set-AzMigrateServerReplication underneath):

- what StartReplication reads is the VM's first setting; what UpdateMachineProperties reads (every `UPDATED_*`
  column and SQL_SERVER_LICENSE_TYPE) replaces it, but only on a row with OK_TO_UPDATE=Y, the only rows that
  script touches; what StartTestMigration reads (TESTMIGRATE_VNET_NAME, `TFO_*`) wins for the test migration;
- Y/N switches are on only with `Y`, as the scripts test `-ne 'Y'`;
- the allowed values are those the scripts (or the cmdlet under them) check.

The rule for each column is in `vmshift.plan.rules` and docs/wave-plan.md. What the format lacks (wave, start
time, region, cache storage account, hooks) comes from options or a small waves file keyed by `source_vm`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from vmshift.azure.naming import child_name_problem
from vmshift.plan.assessment import AssessedMachine, Assessment
from vmshift.plan.columns import COLUMNS_BY_NAME, clipped, parse_vnet, shown, subnet_name_problem
from vmshift.plan.csv_reader import RawRow, Table, normalise_column
from vmshift.plan.schema import NicSelection, PlanError, PlanWarning

DEFAULT_WAVE = "wave-1"

# The template since September 2023: TEST_NETWORK_ID gave way to TEST_VNET_NAME and TEST_SUBNET_NAME, and
# UPDATED_TEST_VNET_NAME and the test-failover NIC columns TFO_NICn_ID, TFO_NICn_TEST_SUBNET_NAME came in.
CURRENT_TEMPLATE = (
    "AZMIGRATEPROJECT_SUBSCRIPTION_ID", "AZMIGRATEPROJECT_RESOURCE_GROUP_NAME", "AZMIGRATEPROJECT_NAME",
    "AZMIGRATE_APPLIANCE_NAME", "SOURCE_MACHINE_NAME", "OS_UPGRADE_VERSION", "AZMIGRATEASSESSMENT_NAME",
    "AZMIGRATEGROUP_NAME", "SQL_SERVER_LICENSE_TYPE", "TAG_KEY", "TAG_VALUE", "VM_TAG_KEY", "VM_TAG_VALUE",
    "DISK_TAG_KEY", "DISK_TAG_VALUE", "NIC_TAG_KEY", "NIC_TAG_VALUE", "TEST_VNET_NAME", "TEST_SUBNET_NAME",
    "TARGET_SUBSCRIPTION_ID", "TARGET_RESOURCE_GROUP_NAME", "TARGET_VNET_NAME", "TARGET_SUBNET_NAME",
    "TARGET_MACHINE_NAME", "TARGET_MACHINE_SIZE", "LICENSE_TYPE", "OS_DISK_ID", "DATA_DISK1_ID", "DATA_DISK2_ID",
    "TARGET_DISKTYPE", "AVAILABILITYZONE_NUMBER", "AVAILABILITYSET_NAME", "TURNOFF_SOURCESERVER",
    "TESTMIGRATE_VNET_NAME", "UPDATED_TEST_VNET_NAME", "UPDATED_TAG_KEY", "UPDATED_TAG_VALUE", "UPDATED_TAG_OPERATION",
    "UPDATED_VMTAG_KEY", "UPDATED_VMTAG_VALUE", "UPDATED_VMTAG_OPERATION", "UPDATED_DISKTAG_KEY",
    "UPDATED_DISKTAG_VALUE", "UPDATED_DISKTAG_OPERATION", "UPDATED_NICTAG_KEY", "UPDATED_NICTAG_VALUE",
    "UPDATED_NICTAG_OPERATION", "UPDATED_TARGET_RESOURCE_GROUP_NAME", "UPDATED_TARGET_VNET_NAME",
    "UPDATED_TARGET_MACHINE_NAME", "UPDATED_TARGET_DISK_NAME", "UPDATED_TARGET_OS_DISK_NAME",
    "UPDATED_TARGET_DATA_DISK1_NAME", "UPDATED_TARGET_DATA_DISK2_NAME", "UPDATED_TARGET_MACHINE_SIZE",
    "UPDATED_AVAILABILITYZONE_NUMBER", "UPDATED_AVAILABILITYSET_NAME", "UPDATED_NIC1_ID", "TFO_NIC1_ID",
    "UPDATED_TARGET_NIC1_NAME", "UPDATED_TARGET_NIC1_SELECTIONTYPE", "UPDATED_TARGET_NIC1_SUBNET_NAME",
    "UPDATED_TARGET_NIC1_IP", "UPDATED_TARGET_NIC1_TEST_IP", "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME",
    "TFO_NIC1_TEST_SUBNET_NAME", "UPDATED_NIC2_ID", "TFO_NIC2_ID", "UPDATED_TARGET_NIC2_NAME",
    "UPDATED_TARGET_NIC2_SELECTIONTYPE", "UPDATED_TARGET_NIC2_SUBNET_NAME", "UPDATED_TARGET_NIC2_IP",
    "UPDATED_TARGET_NIC2_TEST_IP", "UPDATED_TARGET_NIC2_TEST_SUBNET_NAME", "TFO_NIC2_TEST_SUBNET_NAME", "OK_TO_UPDATE",
    "OK_TO_MIGRATE", "OK_TO_USE_ASSESSMENT", "OK_TO_TESTMIGRATE", "OK_TO_RETRIEVE_REPLICATIONSTATUS", "OK_TO_CLEANUP",
    "OK_TO_TESTMIGRATE_CLEANUP",
)
# The template before September 2023 (76 columns): files written then keep working.
_SEPTEMBER_2023 = ("TEST_SUBNET_NAME", "UPDATED_TEST_VNET_NAME", "TFO_NIC1_ID", "TFO_NIC1_TEST_SUBNET_NAME",
                   "TFO_NIC2_ID", "TFO_NIC2_TEST_SUBNET_NAME")
EARLIER_TEMPLATE = tuple("TEST_NETWORK_ID" if column == "TEST_VNET_NAME" else column
                         for column in CURRENT_TEMPLATE if column not in _SEPTEMBER_2023)
# The scripts' readme spells the NIC ids so.
README_SPELLINGS = ("UPDATE_NIC1_ID", "UPDATE_NIC2_ID")
KNOWN_COLUMNS = frozenset(CURRENT_TEMPLATE + EARLIER_TEMPLATE + README_SPELLINGS)
# The scripts skip a row without these (StartReplication.ps1 logs "is not mentioned" and returns).
REQUIRED = ("SOURCE_MACHINE_NAME", "TARGET_RESOURCE_GROUP_NAME", "TARGET_VNET_NAME")

# StartReplication.ps1 uses the subnet "default" when TARGET_SUBNET_NAME is empty.
DEFAULT_SUBNET = "default"
# StartReplication.ps1's AllowedDiskType (anything else it silently turns into Standard_LRS; vmshift refuses it).
SCRIPT_DISK_TYPES = ("Premium_LRS", "StandardSSD_LRS", "Standard_LRS")
# UpdateMachineProperties.ps1's allowedLicenseTypes; empty or NoLicenseType means none.
SCRIPT_SQL_LICENSES = ("PAYG", "AHUB")
# Set-AzMigrateServerReplication's ValidateSet for every UpdateTagOperation.
TAG_OPERATIONS = ("Merge", "Replace", "Delete")
# StartMigration.ps1 leaves the source running for an empty TURNOFF_SOURCESERVER, N or No, and turns it off
# otherwise; vmshift takes Y and Yes for that and refuses anything else rather than guess.
_TURN_OFF = {"": "no", "n": "no", "no": "no", "y": "yes", "yes": "yes"}
_LICENSES = {"": "no", "nolicensetype": "no", "windowsserver": "yes"}
# A vSphere disk's backing UUID, as Azure Migrate's discovered disks carry it (6000C29a-1b2c-...).
_DISK_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_TAGS = (("tags", "TAG"), ("vm_tags", "VM_TAG"), ("disk_tags", "DISK_TAG"), ("nic_tags", "NIC_TAG"))
# UPDATED_<kind>_KEY/VALUE/OPERATION: which resources each updates, as Set-AzMigrateServerReplication applies them.
_TAG_UPDATES = (("TAG", ("vm", "disk", "nic")), ("VMTAG", ("vm",)), ("DISKTAG", ("disk",)), ("NICTAG", ("nic",)))

# What a waves file may give per VM: the plan columns the at-scale format lacks.
WAVES_FILE_COLUMNS = ("wave", "start_time", "region", "cache_storage_account", "vcenter", "os_type", "encryption",
                      "disk_encryption_set", "cutover_window", "cutover_at", "application_group", "hooks")


def updated_by_update_script(column: str) -> bool:
    """Columns only AzMigrate_UpdateMachineProperties.ps1 reads: applied on rows with OK_TO_UPDATE=Y only."""
    return column.startswith("UPDATED_") or column == "SQL_SERVER_LICENSE_TYPE"


@dataclass(frozen=True)
class AtScaleDefaults:
    """Plan-wide values for what the at-scale format lacks (from `plan validate/upload` options)."""

    wave: str | None = None
    region: str | None = None
    cache_storage_account: str | None = None


@dataclass
class _Record:
    """One Input.csv row: cells by the template's column names, and what the scripts would make of them."""

    row: int
    cells: dict[str, str]
    header: dict[str, str]  # template name -> the label the file wrote
    errors: list[PlanError] = field(default_factory=list)

    @property
    def updating(self) -> bool:
        return self.cells.get("OK_TO_UPDATE", "").upper() == "Y"

    def get(self, column: str) -> str:
        """The cell as the scripts see it: an update script's column counts only on an OK_TO_UPDATE=Y row."""
        if updated_by_update_script(column) and not self.updating:
            return ""
        return self.cells.get(column, "")

    def first(self, *columns: str) -> tuple[str, str] | None:
        """(value, column) of the first of `columns` with a value, as the scripts' later step wins."""
        return next(((self.get(column), column) for column in columns if self.get(column)), None)

    def label(self, column: str) -> str:
        return self.header.get(column, column)

    def error(self, column: str, message: str) -> None:
        self.errors.append(PlanError(self.row, self.label(column), message))


def read_azure_migrate(
    table: Table, defaults: AtScaleDefaults, waves: Table | None = None, waves_name: str = "waves file",
    assessment: Assessment | None = None,
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
                                                       "(current or earlier template); check its spelling"))
        else:
            header[name] = label
    errors.extend(PlanError(1, name, "required column is missing") for name in REQUIRED if name not in header)
    if "TARGET_SUBSCRIPTION_ID" not in header and "AZMIGRATEPROJECT_SUBSCRIPTION_ID" not in header:
        errors.append(PlanError(1, "TARGET_SUBSCRIPTION_ID", "required column is missing (or "
                                                             "AZMIGRATEPROJECT_SUBSCRIPTION_ID)"))
    records = [_Record(record.row, {name: record.cells[label] for name, label in header.items()}, header)
               for record in table.records]
    per_vm, waves_errors = _read_waves_file(waves, waves_name, {r.cells.get("SOURCE_MACHINE_NAME", "")
                                                                 for r in records})
    errors.extend(waves_errors)
    for column, option in (("region", defaults.region), ("cache_storage_account", defaults.cache_storage_account)):
        lacking = [r.row for r in records
                   if column not in per_vm.get(r.cells.get("SOURCE_MACHINE_NAME", ""), ({}, {}))[0]]
        if not option and lacking:
            errors.append(PlanError(1, column, f"the at-scale format has no {column}; allowed: pass "
                                               f"--{column.replace('_', '-')}, or give it in a waves file"))
    rows = []
    for record in records:
        values, labels, assessed = _map_record(record, assessment)
        errors.extend(record.errors)
        given, given_labels = per_vm.get(record.cells.get("SOURCE_MACHINE_NAME", ""), ({}, {}))
        for column, option in (("wave", defaults.wave or DEFAULT_WAVE), ("region", defaults.region),
                               ("cache_storage_account", defaults.cache_storage_account)):
            if option:
                values[column], labels[column] = option, f"--{column.replace('_', '-')}"
        values |= given
        labels |= given_labels
        left_out = None
        if record.cells.get("OK_TO_MIGRATE", "").upper() != "Y":
            left_out = "OK_TO_MIGRATE"
        rows.append(RawRow(record.row, values, labels, assessed=assessed, left_out=left_out))
    return rows, errors, _warnings(records, assessment)


def _map_record(record: _Record, assessment: Assessment | None) -> tuple[dict, dict, AssessedMachine | None]:
    values: dict[str, str] = {}
    labels: dict[str, str] = {}

    def take(column: str, *sources: str, default: str | None = None) -> None:
        found = record.first(*sources)
        if found:
            values[column], labels[column] = found[0], record.label(found[1])
        elif default is not None:
            values[column], labels[column] = default, record.label(sources[-1])
        elif any(source in record.header for source in sources):
            present = next(source for source in sources if source in record.header)
            values[column], labels[column] = "", record.label(present)

    take("source_vm", "SOURCE_MACHINE_NAME")
    if record.get("OS_UPGRADE_VERSION"):
        record.error("OS_UPGRADE_VERSION", "vmshift migrates the guest OS as it is and does not upgrade it; allowed: "
                                           "empty (upgrade the guest before or after the migration)")
    # The scripts stay in the project's subscription when TARGET_SUBSCRIPTION_ID is empty.
    take("target_subscription", "TARGET_SUBSCRIPTION_ID", "AZMIGRATEPROJECT_SUBSCRIPTION_ID")
    take("resource_group", "UPDATED_TARGET_RESOURCE_GROUP_NAME", "TARGET_RESOURCE_GROUP_NAME")
    take("target_vnet", "UPDATED_TARGET_VNET_NAME", "TARGET_VNET_NAME")
    take("target_subnet", "TARGET_SUBNET_NAME", default=DEFAULT_SUBNET)
    take("target_vm_name", "UPDATED_TARGET_MACHINE_NAME", "TARGET_MACHINE_NAME")
    take("availability_zone", "UPDATED_AVAILABILITYZONE_NUMBER", "AVAILABILITYZONE_NUMBER")
    take("availability_set", "UPDATED_AVAILABILITYSET_NAME", "AVAILABILITYSET_NAME")
    take("appliance", "AZMIGRATE_APPLIANCE_NAME")
    # The test migration's VNet: StartTestMigration's TESTMIGRATE_VNET_NAME, else what UpdateMachineProperties
    # set (UPDATED_TEST_VNET_NAME), else StartReplication's TEST_VNET_NAME (earlier: TEST_NETWORK_ID, an id).
    take("test_vnet", "TESTMIGRATE_VNET_NAME", "UPDATED_TEST_VNET_NAME", "TEST_VNET_NAME", "TEST_NETWORK_ID")
    take("test_subnet", "TEST_SUBNET_NAME", "TFO_NIC1_TEST_SUBNET_NAME", "UPDATED_TARGET_NIC1_TEST_SUBNET_NAME")
    if values.get("test_vnet") and labels["test_vnet"] == record.label("TEST_NETWORK_ID"):
        _check_vnet_id(record, values["test_vnet"])
    _sql_license(record, values, labels)
    _switches(record, values, labels)
    _licence(record, values, labels)
    assessed = _size_and_disks(record, values, labels, assessment)
    _disk_names(record, values, labels)
    _tags(record, values, labels)
    _nics(record, values, labels)
    return values, labels, assessed


def _check_vnet_id(record: _Record, vnet_id: str) -> None:
    """The earlier template's TEST_NETWORK_ID is a resource id, never a bare name."""
    try:
        parse_vnet(vnet_id)
        valid = vnet_id.startswith("/")
    except ValueError:
        valid = False
    if not valid:
        record.error("TEST_NETWORK_ID", "not a virtual network resource id; allowed: /subscriptions/ID/"
                                        "resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/NAME")


def _sql_license(record: _Record, values: dict, labels: dict) -> None:
    licence = record.get("SQL_SERVER_LICENSE_TYPE")
    if not licence or licence.lower() == "nolicensetype":
        return
    match = next((allowed for allowed in SCRIPT_SQL_LICENSES if allowed.lower() == licence.lower()), None)
    if match is None:
        record.error("SQL_SERVER_LICENSE_TYPE", f"{shown(licence)} is not a licence type the scripts take; allowed: "
                                                "PAYG, AHUB, NoLicenseType or empty")
        return
    values["sql_license"], labels["sql_license"] = match, record.label("SQL_SERVER_LICENSE_TYPE")


def _switches(record: _Record, values: dict, labels: dict) -> None:
    if "TURNOFF_SOURCESERVER" in record.header:
        text = record.get("TURNOFF_SOURCESERVER")
        if text.lower() in _TURN_OFF:
            values["turn_off_source"] = _TURN_OFF[text.lower()]
            labels["turn_off_source"] = record.label("TURNOFF_SOURCESERVER")
        else:
            record.error("TURNOFF_SOURCESERVER", f"{shown(text)} is neither Y nor N; allowed: Y, N or empty (N)")
    # Switches the scripts test with `-ne 'Y'`: anything but Y is off.
    for column, source in (("allow_test_migration", "OK_TO_TESTMIGRATE"),
                           ("allow_test_cleanup", "OK_TO_TESTMIGRATE_CLEANUP"), ("allow_complete", "OK_TO_CLEANUP")):
        if source in record.header:
            values[column] = "yes" if record.get(source).upper() == "Y" else "no"
            labels[column] = record.label(source)


def _licence(record: _Record, values: dict, labels: dict) -> None:
    if "LICENSE_TYPE" not in record.header:
        return
    licence = record.get("LICENSE_TYPE")
    if licence.lower() in _LICENSES:
        values["hybrid_benefit"], labels["hybrid_benefit"] = _LICENSES[licence.lower()], record.label("LICENSE_TYPE")
    else:
        record.error("LICENSE_TYPE", f"{shown(licence)} is not a licence type; allowed: NoLicenseType, WindowsServer, "
                                     "or empty")


def _size_and_disks(record: _Record, values: dict, labels: dict,
                    assessment: Assessment | None) -> AssessedMachine | None:
    """VM size and disk types, with StartReplication's order: an assessment (OK_TO_USE_ASSESSMENT=Y) wins over
    TARGET_MACHINE_SIZE and TARGET_DISKTYPE; an UPDATED_TARGET_MACHINE_SIZE, applied later, wins over both."""
    assessed = None
    if record.get("OK_TO_USE_ASSESSMENT").upper() == "Y":
        if assessment is None:
            record.error("OK_TO_USE_ASSESSMENT", "Y asks for the assessment's recommendations, and no assessment was "
                                                 "given; allowed: pass --assessment FILE (see docs/wave-plan.md), or N")
        else:
            assessed = assessment.find(record.get("SOURCE_MACHINE_NAME"), record.get("AZMIGRATEASSESSMENT_NAME"),
                                       record.get("AZMIGRATEGROUP_NAME"))
    updated, original = record.first("UPDATED_TARGET_MACHINE_SIZE"), record.first("TARGET_MACHINE_SIZE")
    if updated or not (assessed and assessed.vm_size):
        found = updated or original
        if found:
            values["vm_size"], labels["vm_size"] = found[0], record.label(found[1])
    else:
        values["vm_size"], labels["vm_size"] = assessed.vm_size, f"{assessed.label}: vm_size"
    disk_type = record.get("TARGET_DISKTYPE")
    if disk_type:
        match = next((allowed for allowed in SCRIPT_DISK_TYPES if allowed.lower() == disk_type.lower()), None)
        if match is None:
            record.error("TARGET_DISKTYPE", f"{shown(disk_type)} is not a disk type the scripts take; allowed: "
                                            f"{', '.join(SCRIPT_DISK_TYPES)} (an assessment may recommend others)")
        else:
            values["disk_type"], labels["disk_type"] = match, record.label("TARGET_DISKTYPE")
    if "OS_DISK_ID" in record.header:
        os_disk = _disk_number(record, "OS_DISK_ID")
        if os_disk:
            values["os_disk"], labels["os_disk"] = os_disk, record.label("OS_DISK_ID")
    return assessed


def _disk_number(record: _Record, column: str) -> str | None:
    """A disk by number (vmshift's "Hard disk N"); Azure Migrate's disk UUIDs are refused for now."""
    text = record.get(column)
    if not text or text.isdecimal():
        return text or None
    if _DISK_UUID.fullmatch(text):
        record.error(column, f"{shown(text)} is an Azure Migrate disk UUID, which vmshift does not match to vCenter's "
                             "disks yet; allowed: the disk's number (1 for Hard disk 1), or empty (Hard disk 1, as "
                             "the scripts pick scsi0:0)")
    else:
        record.error(column, f"{shown(text)} is not a disk; allowed: a disk number (1 for Hard disk 1) or empty")
    return None


def _disk_names(record: _Record, values: dict, labels: dict) -> None:
    """UpdateMachineProperties renames the disks its DiskToUpdate names: the OS disk (UPDATED_TARGET_DISK_NAME,
    or UPDATED_TARGET_OS_DISK_NAME with OS_DISK_ID) and DATA_DISKn_ID's disk (UPDATED_TARGET_DATA_DISKn_NAME)."""
    names: dict[int, tuple[str, str]] = {}
    os_disk = int(values.get("os_disk") or 1)
    for name_column, id_column in (("UPDATED_TARGET_DISK_NAME", None), ("UPDATED_TARGET_OS_DISK_NAME", "OS_DISK_ID"),
                                   ("UPDATED_TARGET_DATA_DISK1_NAME", "DATA_DISK1_ID"),
                                   ("UPDATED_TARGET_DATA_DISK2_NAME", "DATA_DISK2_ID")):
        name = record.get(name_column)
        if not name:
            continue
        if id_column == "OS_DISK_ID":
            number = os_disk if record.get(id_column) else None
        elif id_column:
            disk = _disk_number(record, id_column)
            number = int(disk) if disk else None
        else:
            number = os_disk
        if number is None:
            continue
        if number in names and names[number][0].lower() != name.lower():
            record.error(name_column, f"disk {number} is already named {names[number][0]!r} by {names[number][1]}; "
                                      "allowed: one name per disk")
            continue
        names[number] = (name, name_column)
    if names:
        values["disk_names"] = ";".join(f"{number}={name}" for number, (name, _) in sorted(names.items()))
        labels["disk_names"] = record.label(next(iter(names.values()))[1])


def _tags(record: _Record, values: dict, labels: dict) -> None:
    """TAG_* give each resource kind its tags; the UPDATED_* tag columns then change them with Merge, Replace or
    Delete, common ones first, as Set-AzMigrateServerReplication does."""
    base: dict[str, list[tuple[str, str]]] = {}
    for column, prefix in _TAGS:
        pairs = _tag_pairs(record, f"{prefix}_KEY", f"{prefix}_VALUE")
        if pairs:
            base[column] = pairs
            values[column] = _joined(pairs)
            labels[column] = record.label(f"{prefix}_KEY")
    updates = []
    for kind, resources in _TAG_UPDATES:
        key, value, operation = (f"UPDATED_{kind}_{part}" for part in ("KEY", "VALUE", "OPERATION"))
        given = [column for column in (key, value, operation) if record.get(column)]
        if not given:
            continue
        if len(given) < 3:
            missing = next(column for column in (key, value, operation) if column not in given)
            record.error(missing, f"empty while {', '.join(given)} is given: the scripts skip such an update without a "
                                  f"word; allowed: all three of {key}, {value}, {operation}, or none")
            continue
        op = next((allowed for allowed in TAG_OPERATIONS if allowed.lower() == record.get(operation).lower()), None)
        if op is None:
            record.error(operation, f"{shown(record.get(operation))} is not a tag operation; allowed: "
                                    f"{', '.join(TAG_OPERATIONS)}")
            continue
        pairs = _tag_pairs(record, key, value)
        if pairs:
            updates.append((op, pairs, resources, key))
    if not updates:
        return
    for kind in ("vm", "disk", "nic"):
        tags = dict(base.get("tags", [])) | dict(base.get(f"{kind}_tags", []))
        for op, pairs, resources, _ in updates:
            if kind in resources:
                tags = apply_tag_update(tags, op, pairs)
        values[f"{kind}_tags"] = _joined(list(tags.items()))
        labels[f"{kind}_tags"] = record.label(updates[-1][3])
    values["tags"] = ""


def apply_tag_update(tags: dict[str, str], operation: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Set-AzMigrateServerReplication's tag operations: Merge sets each given tag, Replace keeps only the given
    ones, Delete removes a tag whose value is the one given. Tag names and PowerShell's -eq ignore case."""
    if operation == "Replace":
        return dict(pairs)
    result = dict(tags)
    for key, value in pairs:
        existing = next((name for name in result if name.lower() == key.lower()), None)
        if operation == "Merge":
            result.pop(existing, None)
            result[key] = value
        elif existing is not None and result[existing].lower() == value.lower():
            del result[existing]
    return result


def _tag_pairs(record: _Record, key_column: str, value_column: str) -> list[tuple[str, str]]:
    """`KEY=a,b` and `VALUE=1,2` → [(a, 1), (b, 2)]; lists of different lengths are an error, as the scripts
    stop on them."""
    keys_text, values_text = record.get(key_column), record.get(value_column)
    if not keys_text and not values_text:
        return []
    keys = keys_text.split(",") if keys_text else []
    tag_values = values_text.split(",") if values_text else []
    if len(keys) != len(tag_values):
        column = value_column if keys else key_column
        record.error(column, f"{len(keys)} tag name(s) in {key_column} but {len(tag_values)} value(s) in "
                             f"{value_column}; allowed: as many comma-separated values as names")
        return []
    pairs = list(zip((key.strip() for key in keys), (value.strip() for value in tag_values), strict=True))
    if any(";" in text or "=" in text for pair in pairs for text in pair):
        record.error(key_column, "a tag name or value contains ';' or '=', which vmshift cannot carry; allowed: names "
                                 "and values without them")
        return []
    return pairs


def _joined(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{key}={value}" for key, value in pairs)


def _nics(record: _Record, values: dict, labels: dict) -> None:
    """NICn's columns → `n:selection:subnet:ip:test_ip:test_subnet:name`. The test subnet of StartTestMigration
    (TFO_NICn_TEST_SUBNET_NAME) wins over UpdateMachineProperties' (UPDATED_TARGET_NICn_TEST_SUBNET_NAME)."""
    entries = []
    selections = {member.value.lower(): member.value for member in NicSelection}
    for number in (1, 2):
        prefix = f"UPDATED_TARGET_NIC{number}_"
        for id_column in (f"UPDATED_NIC{number}_ID", f"TFO_NIC{number}_ID", f"UPDATE_NIC{number}_ID"):
            if record.get(id_column):
                record.error(id_column, f"vmshift maps NIC{number} to the VM's NIC number {number} in vCenter, as the "
                                        f"scripts do when this id is empty; allowed: empty (reorder the columns' "
                                        "values to map another NIC)")
        test_subnet = record.first(f"TFO_NIC{number}_TEST_SUBNET_NAME", prefix + "TEST_SUBNET_NAME")
        fields = [record.get(prefix + part) for part in ("SELECTIONTYPE", "SUBNET_NAME", "IP", "TEST_IP")]
        fields += [test_subnet[0] if test_subnet else "", record.get(prefix + "NAME")]
        # The scripts' docs: "auto" assigns the IP dynamically, as an empty cell does here.
        fields[2:4] = ["" if address.lower() == "auto" else address for address in fields[2:4]]
        if not any(fields):
            continue
        selection = fields[0] or ("Primary" if number == 1 else "Secondary")
        if selection.lower() not in selections:
            record.error(prefix + "SELECTIONTYPE", f"{shown(selection)} is not a NIC selection; allowed: Primary, "
                                                   "Secondary, DoNotCreate")
            continue
        bad = False
        for part, address in (("IP", fields[2]), ("TEST_IP", fields[3])):
            if address:
                try:
                    ipaddress.IPv4Address(address)
                except ValueError:
                    record.error(prefix + part, f"{shown(address)} is not an IPv4 address; allowed: a static private "
                                                "IP of the subnet, auto, or empty")
                    bad = True
        named = [(prefix + "SUBNET_NAME", fields[1], subnet_name_problem),
                 (test_subnet[1] if test_subnet else "", fields[4], subnet_name_problem),
                 (prefix + "NAME", fields[5], child_name_problem)]
        for column, name, problem_of in named:
            if name and (problem := problem_of(name)):
                record.error(column, f"{problem}; allowed: letters, digits, '_', '.', '-' (up to 80)")
                bad = True
        if not bad:
            entries.append(":".join([str(number), selections[selection.lower()], *fields[1:]]))
    if entries:
        # A rule between NICs (one IP twice, a setting on a DoNotCreate NIC) names the NIC in its message.
        values["nics"], labels["nics"] = ";".join(entries), "UPDATED_TARGET_NICn_*, TFO_NICn_*"


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


# Columns whose value vmshift reports and does not use: Azure Migrate itself uses them only to find its own
# records (its project), which vmshift does not have; vmshift finds the VM in vCenter by SOURCE_MACHINE_NAME.
_PROJECT = ("AZMIGRATEPROJECT_RESOURCE_GROUP_NAME", "AZMIGRATEPROJECT_NAME")


def _warnings(records: list[_Record], assessment: Assessment | None) -> list[PlanWarning]:
    """One warning per column, listing its rows: what the scripts would ignore, and what vmshift does not use."""
    found: dict[str, tuple[str, list[int]]] = {}

    def warn(column: str, reason: str, row: int) -> None:
        found.setdefault(column, (reason, []))[1].append(row)

    for record in records:
        cells, row = record.cells, record.row
        for column in _PROJECT:
            if cells.get(column):
                warn(column, "not used: Azure Migrate finds the VM in this project; vmshift finds it in its vCenter by "
                             "SOURCE_MACHINE_NAME", row)
        if not record.updating:
            for column, value in cells.items():
                if updated_by_update_script(column) and value:
                    warn(column, "not applied: OK_TO_UPDATE is not Y, and AzMigrate_UpdateMachineProperties.ps1, the "
                                 "only script that reads it, skips such a row; set OK_TO_UPDATE to Y to apply it", row)
        if cells.get("OK_TO_USE_ASSESSMENT", "").upper() != "Y":
            for column in ("AZMIGRATEASSESSMENT_NAME", "AZMIGRATEGROUP_NAME"):
                if cells.get(column):
                    warn(column, "not used: OK_TO_USE_ASSESSMENT is not Y, and the scripts read the assessment only "
                                 "then", row)
        elif assessment is not None and record.get("SOURCE_MACHINE_NAME") and assessment.find(
                record.get("SOURCE_MACHINE_NAME"), record.get("AZMIGRATEASSESSMENT_NAME"),
                record.get("AZMIGRATEGROUP_NAME")) is None:
            warn("OK_TO_USE_ASSESSMENT", f"the assessment {assessment.name} has no recommendation for the machine "
                                         "(with this AZMIGRATEASSESSMENT_NAME and AZMIGRATEGROUP_NAME); as the scripts "
                                         "do, TARGET_MACHINE_SIZE and TARGET_DISKTYPE are used", row)
        for name_column, id_column in (("UPDATED_TARGET_OS_DISK_NAME", "OS_DISK_ID"),
                                       ("UPDATED_TARGET_DATA_DISK1_NAME", "DATA_DISK1_ID"),
                                       ("UPDATED_TARGET_DATA_DISK2_NAME", "DATA_DISK2_ID")):
            if record.get(name_column) and not record.get(id_column):
                warn(name_column, f"not applied: {id_column} is empty, and the scripts rename only the disk it names",
                     row)
        for id_column, name_column in (("DATA_DISK1_ID", "UPDATED_TARGET_DATA_DISK1_NAME"),
                                       ("DATA_DISK2_ID", "UPDATED_TARGET_DATA_DISK2_NAME")):
            if record.get(id_column) and not record.get(name_column):
                warn(id_column, f"not used: the scripts use it only to rename that disk, and {name_column} is empty; "
                                "every disk of the VM is replicated, as the scripts do", row)
        if cells.get("OK_TO_RETRIEVE_REPLICATIONSTATUS", "").upper() not in ("", "Y"):
            warn("OK_TO_RETRIEVE_REPLICATIONSTATUS", "not used: it only leaves the VM out of the status script's "
                                                     "report, and `vmshift status` reports what it is asked", row)
        if cells.get("OK_TO_MIGRATE", "").upper() != "Y":
            warn("OK_TO_MIGRATE", "left out of the plan: OK_TO_MIGRATE is not Y, so the scripts neither replicate nor "
                                  "migrate the VM; set it to Y to migrate it", row)
    return [PlanWarning(None, column, f"{reason} (rows {_rows(rows)})") for column, (reason, rows) in found.items()]


def _rows(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
