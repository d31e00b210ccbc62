"""What vmshift may do, asked before a step touches anything: the vCenter privileges on the VMs it works on and
the Azure actions at the scopes the appliance and the plan name (docs/permissions.md). A flow that would be
refused halfway is refused at its start, with every missing privilege and action at once, so that nothing is
half-built; `vmshift plan validate` asks the same for every step the plan goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmshift.azure.clients import AzureClients
from vmshift.azure.clients import connect as connect_azure
from vmshift.azure.errors import PermissionsMissing
from vmshift.azure.naming import vnet_id
from vmshift.azure.permissions import MissingAction, Scope, check_permissions, missing_actions
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import PlanError, SqlLicense, WavePlanRow
from vmshift.steps import MigrationStep
from vmshift.vsphere.connection import VCenterConfig, VSphereSession
from vmshift.vsphere.connection import connect as connect_vcenter
from vmshift.vsphere.errors import PrivilegesMissing
from vmshift.vsphere.inventory import find_vms
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME, MissingPrivilege, check_privileges, missing_privileges

# What a plan goes through after its validation; discovery is the validation itself.
PLAN_STEPS = (MigrationStep.REPLICATION, MigrationStep.TEST_MIGRATION, MigrationStep.CUTOVER, MigrationStep.ROLLBACK,
              MigrationStep.COMPLETION)
_COLUMNS = {Scope.SUBSCRIPTION: "target_subscription", Scope.TARGET_RESOURCE_GROUP: "resource_group",
            Scope.TARGET_VNET: "target_vnet"}


class AccessMissing(Exception):
    """vCenter or Azure would refuse a call of the step: every missing privilege and action, found before it."""

    def __init__(self, refusals: Sequence[PrivilegesMissing | PermissionsMissing]) -> None:
        self.refusals = list(refusals)
        super().__init__("\n".join(str(refusal) for refusal in self.refusals))


@dataclass(frozen=True)
class TargetPlace:
    """Where a row of the plan puts its VM, which is where its Azure actions are asked."""

    row: int
    subscription: str
    resource_group: str
    vnets: tuple[str, ...]  # the target and test VNets, as resource IDs
    availability_set: bool = False
    disk_encryption_set: bool = False
    sql_server: bool = False  # the plan gives a SQL Server licence: the cutover registers a SQL Server VM

    @classmethod
    def of(cls, values: WavePlanRow | Mapping[str, Any]) -> TargetPlace:
        """From a plan row, or from the parsed cells of one (plan validation)."""
        get = values.get if isinstance(values, Mapping) else lambda name: getattr(values, name, None)
        subscription, group = str(get("target_subscription") or ""), str(get("resource_group") or "")
        vnets = tuple(vnet_id(subscription, group, str(v)) for v in (get("target_vnet"), get("test_vnet")) if v)
        licence = str(get("sql_license") or SqlLicense.NONE)
        return cls(int(get("row") or 0), subscription, group, vnets, bool(get("availability_set")),
                   bool(get("disk_encryption_set")), licence not in (SqlLicense.NONE, "", "None"))


def azure_scopes(appliance: Appliance, subscription_id: str, places: Iterable[TargetPlace]) -> dict[Scope, list[str]]:
    """Each scope kind of docs/permissions.md, and its IDs for this appliance and these rows."""
    sub = f"/subscriptions/{subscription_id}"
    places = [p for p in places if p.subscription and p.resource_group]
    return {
        Scope.SUBSCRIPTION: sorted({sub, *(f"/subscriptions/{p.subscription}" for p in places)}),
        Scope.CACHE_RESOURCE_GROUP: [f"{sub}/resourceGroups/{appliance.migration_resource_group}"],
        Scope.HUB_VNET: [appliance.vnet_id(subscription_id)],
        Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP: [f"{sub}/resourceGroups/{appliance.network_resource_group}"],
        Scope.TARGET_RESOURCE_GROUP: sorted({f"/subscriptions/{p.subscription}/resourceGroups/{p.resource_group}"
                                             for p in places}),
        Scope.TARGET_VNET: sorted({vnet for p in places for vnet in p.vnets}),
    }


def plan_conditions(places: Iterable[TargetPlace]) -> set[str]:
    """The conditional actions the rows call for (docs/permissions.md's "only when the plan names ...")."""
    places = list(places)
    return ({"availability set"} if any(p.availability_set for p in places) else set()) | (
        {"disk encryption set"} if any(p.disk_encryption_set for p in places) else set()) | (
        {"SQL Server VM"} if any(p.sql_server for p in places) else set())


def check_access(step: MigrationStep, appliance: Appliance, rows: Sequence[WavePlanRow],
                 vms: Mapping[str, str | None] | None = None, *, clients: AzureClients | None = None,
                 session: VSphereSession | None = None) -> None:
    """Raises AccessMissing when vCenter or Azure would refuse any call of `step` for these rows (and these
    source VMs besides the rows', each in the vCenter its plan named: None the default), naming every missing
    privilege and action with its object or scope. Each vCenter the rows name (their `vcenter` column) is asked
    for its own VMs, as its own user; `session`: the default vCenter's, already open."""
    clients = clients or connect_azure()
    places = [TargetPlace.of(row) for row in rows]
    refusals: list[PrivilegesMissing | PermissionsMissing] = []
    try:
        check_permissions(clients, step, azure_scopes(appliance, clients.config.subscription_id, places),
                          plan_conditions(places))
    except PermissionsMissing as refused:
        refusals.append(refused)
    for config, names in _vms_by_vcenter(rows, vms or {}).items():
        ours = session is not None and session.config.name == config.name
        opened = session if ours else connect_vcenter(config)
        try:
            check_privileges(opened, step, list(find_vms(opened, names).values()))
        except PrivilegesMissing as refused:
            refusals.append(refused)
        finally:
            if not ours:
                opened.close()
    if refusals:
        raise AccessMissing(refusals)


def _vms_by_vcenter(rows: Sequence[WavePlanRow], vms: Mapping[str, str | None]) -> dict[VCenterConfig, list[str]]:
    """The source VMs of the rows and `vms` by the vCenter each names (empty: the default)."""
    named = [(row.vcenter, row.source_vm) for row in rows] + [(vcenter, name) for name, vcenter in vms.items()]
    configs = {cell: VCenterConfig.named_in_plan(cell) for cell in dict.fromkeys(cell for cell, _ in named)}
    by_vcenter: dict[VCenterConfig, list[str]] = {}
    for cell, name in named:
        by_vcenter.setdefault(configs[cell], [])
        if name not in by_vcenter[configs[cell]]:
            by_vcenter[configs[cell]].append(name)
    return by_vcenter


def access_errors(clients: AzureClients, sessions: Callable[[str | None], VSphereSession | None],
                  appliance: Appliance, rows: Sequence[Mapping[str, Any]]) -> list[PlanError]:
    """`vmshift plan validate`'s errors for what the plan's steps would be refused: each missing action once, on
    the first row whose scope it is (the appliance's scopes on the plan's first row), each missing privilege on
    its VM's row. `sessions` opens the vCenter a row's `vcenter` cell names (None: the default one), or answers
    None for one that is not configured (the vcenter check names it)."""
    if not rows:
        return []
    places = {int(values["row"]): TargetPlace.of(values) for values in rows}
    scopes = azure_scopes(appliance, clients.config.subscription_id, places.values())
    missing: dict[tuple[str, str], tuple[MissingAction, list[MigrationStep]]] = {}
    for step in PLAN_STEPS:
        for gap in missing_actions(clients, step, scopes, plan_conditions(places.values())):
            missing.setdefault((gap.action, gap.scope_id.lower()), (gap, []))[1].append(step)
    labels = {int(values["row"]): values.get("labels") or {} for values in rows}
    errors = [_action_error(gap, steps, places, labels) for gap, steps in missing.values()]
    by_vcenter: dict[str, tuple[VSphereSession, list[Mapping[str, Any]]]] = {}
    for values in rows:
        session = sessions(values.get("vcenter") or None)
        if session is not None:
            by_vcenter.setdefault(session.config.name, (session, []))[1].append(values)
    for session, its_rows in by_vcenter.values():
        errors += _privilege_errors(session, its_rows)
    return errors


def _privilege_errors(session: VSphereSession, rows: Sequence[Mapping[str, Any]]) -> list[PlanError]:
    """Each privilege the plan's steps need on these rows' VMs (all in the session's vCenter) and their datastores
    that its user lacks, on each row whose VM needs it."""
    vms = find_vms(session, (str(values.get("source_vm") or "") for values in rows))
    lacking: dict[tuple[str, str], tuple[MissingPrivilege, list[MigrationStep]]] = {}
    for step in PLAN_STEPS:  # one question per step and object kind, for every VM of the plan at once
        for gap in missing_privileges(session, step, list(vms.values())):
            lacking.setdefault((gap.privilege, gap.moref), (gap, []))[1].append(step)
    errors = []
    for values in rows:
        vm = vms.get(str(values.get("source_vm") or ""))
        if vm is None:
            continue  # the inventory check names it
        its_objects = {vm._moId, *(datastore._moId for datastore in vm.datastore)}
        column = (values.get("labels") or {}).get("source_vm", "source_vm")
        errors += [PlanError(int(values["row"]), column,
                             f"vCenter user {session.config.user} lacks {gap.privilege} on {gap.kind} "
                             f"{gap.object_name} ({gap.moref}) in vCenter {session.config.name}, needed for "
                             f"{', '.join(steps)}: {gap.calls}; the vCenter role '{ROLE_NAME}' ({ROLE_FILE}) "
                             "grants it")
                   for (_, moref), (gap, steps) in lacking.items() if moref in its_objects]
    return errors


def _action_error(gap: MissingAction, steps: list[MigrationStep], places: dict[int, TargetPlace],
                  labels: dict[int, Mapping[str, str]]) -> PlanError:
    rows = sorted(row for row, place in places.items() if gap.scope_id.lower() in (
        f"/subscriptions/{place.subscription}".lower(),
        f"/subscriptions/{place.subscription}/resourcegroups/{place.resource_group}".lower(),
        *(vnet.lower() for vnet in place.vnets)))
    row = rows[0] if rows else min(places)
    column = labels[row].get(_COLUMNS[gap.scope], _COLUMNS[gap.scope]) if rows and gap.scope in _COLUMNS else None
    where = f" (rows {', '.join(map(str, rows))})" if len(rows) > 1 else ""
    whose = "" if rows else "the appliance's "
    return PlanError(row, column,
                     f"the service principal lacks {gap.action} at {whose}{gap.scope} {gap.scope_id}{where}, "
                     f"needed for {', '.join(steps)}: {gap.calls}; the custom role '{gap.role.name}' "
                     f"({gap.role.file}) grants it")

