"""The vCenter privileges vmshift needs, by step, and the check that the signed-in user holds them.

One table, REQUIRED_PRIVILEGES: docs/permissions.md explains it, docs/roles/vcenter-role.json is its union
(the role an administrator creates), and `check_privileges` asks vCenter's HasPrivilegeOnEntities for the
objects a step touches, so that a step is refused before it starts, with every missing privilege at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pyVmomi import vim, vmodl

from vmshift.steps import MigrationStep
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import PrivilegesMissing, VSphereError

ROLE_NAME = "vmshift"
ROLE_FILE = "docs/roles/vcenter-role.json"


class ObjectKind(StrEnum):
    """Where a privilege is checked: on each source VM, or on each datastore holding its disks."""

    VIRTUAL_MACHINE = "VirtualMachine"
    DATASTORE = "Datastore"


@dataclass(frozen=True)
class RequiredPrivilege:
    privilege: str
    on: ObjectKind
    steps: frozenset[MigrationStep]
    calls: str  # what vmshift calls that needs it


_REPLICATING = frozenset({MigrationStep.REPLICATION, MigrationStep.CUTOVER})  # the cutover's final delta is a cycle too

# System.Anonymous, System.View and System.Read are not listed: vCenter puts them in every role. Discovery
# (inventory, plan validation, readiness) reads properties only, which they allow.
REQUIRED_PRIVILEGES: tuple[RequiredPrivilege, ...] = (
    RequiredPrivilege("VirtualMachine.Config.ChangeTracking", ObjectKind.VIRTUAL_MACHINE,
                      frozenset({MigrationStep.REPLICATION, MigrationStep.COMPLETION}),
                      "ReconfigVM_Task(changeTrackingEnabled): CBT on before the first cycle, off once migrated"),
    RequiredPrivilege("VirtualMachine.State.CreateSnapshot", ObjectKind.VIRTUAL_MACHINE, _REPLICATING,
                      "CreateSnapshot_Task: each cycle's snapshot, and the stun that starts CBT on a running VM"),
    RequiredPrivilege("VirtualMachine.State.RemoveSnapshot", ObjectKind.VIRTUAL_MACHINE,
                      _REPLICATING | {MigrationStep.COMPLETION},
                      "RemoveSnapshot_Task: each cycle's snapshot once read, leftovers of killed cycles"),
    RequiredPrivilege("VirtualMachine.Provisioning.DiskRandomRead", ObjectKind.VIRTUAL_MACHINE, _REPLICATING,
                      "QueryChangedDiskAreas: the allocated (first cycle) or changed (delta) areas of each disk"),
    RequiredPrivilege("Datastore.Browse", ObjectKind.DATASTORE, _REPLICATING,
                      "datastore file access (GET /folder with Range): reading the snapshot's disks and, at "
                      "cutover, verifying the Azure disks against them"),
    RequiredPrivilege("Datastore.FileManagement", ObjectKind.DATASTORE, _REPLICATING,
                      "datastore file access (GET /folder with Range), as for Datastore.Browse"),
    RequiredPrivilege("VirtualMachine.Interact.PowerOff", ObjectKind.VIRTUAL_MACHINE,
                      frozenset({MigrationStep.CUTOVER}),
                      "ShutdownGuest, and PowerOffVM_Task when the guest does not stop in time"),
    RequiredPrivilege("VirtualMachine.Interact.PowerOn", ObjectKind.VIRTUAL_MACHINE,
                      frozenset({MigrationStep.CUTOVER, MigrationStep.ROLLBACK}),
                      "PowerOnVM_Task: the source again after a failed cutover, and on rollback"),
)


def role_privileges() -> list[str]:
    """The vmshift role: every privilege of the table, as docs/roles/vcenter-role.json lists them."""
    return sorted({required.privilege for required in REQUIRED_PRIVILEGES})


@dataclass(frozen=True)
class MissingPrivilege:
    privilege: str
    kind: ObjectKind
    object_name: str
    moref: str
    calls: str


def missing_privileges(session: VSphereSession, step: MigrationStep,
                       vms: Sequence[vim.VirtualMachine]) -> list[MissingPrivilege]:
    """The privileges `step` needs that the session's user lacks on these VMs or their datastores."""
    needed = [required for required in REQUIRED_PRIVILEGES if step in required.steps]
    objects: dict[ObjectKind, dict[str, vim.ManagedEntity]] = {kind: {} for kind in ObjectKind}
    for vm in vms:
        objects[ObjectKind.VIRTUAL_MACHINE][vm._moId] = vm
        for datastore in vm.datastore:
            objects[ObjectKind.DATASTORE][datastore._moId] = datastore
    missing = []
    for kind, entities in objects.items():
        privileges = {required.privilege: required for required in needed if required.on == kind}
        if not privileges or not entities:
            continue
        for answer in _has_privileges(session, list(entities.values()), sorted(privileges)):
            for availability in answer.privAvailability:
                if not availability.isGranted:
                    required = privileges[availability.privId]
                    missing.append(MissingPrivilege(required.privilege, kind, answer.entity.name,
                                                    answer.entity._moId, required.calls))
    return missing


def check_privileges(session: VSphereSession, step: MigrationStep, vms: Sequence[vim.VirtualMachine]) -> None:
    """Raises PrivilegesMissing naming every privilege `step` needs and the user lacks, on which object."""
    missing = missing_privileges(session, step, vms)
    if missing:
        raise PrivilegesMissing(session.config.user, step, ROLE_NAME, ROLE_FILE, missing, session.config.name)


def _has_privileges(session: VSphereSession, entities: list[vim.ManagedEntity],
                    privileges: list[str]) -> list[vim.EntityPrivilege]:
    manager = session.content.authorizationManager
    key = session.content.sessionManager.currentSession.key
    try:
        return manager.HasPrivilegeOnEntities(entity=entities, sessionId=key, privId=privileges)
    except vmodl.MethodFault as fault:
        raise VSphereError(f"vCenter did not answer which privileges {session.config.user} holds: "
                           f"{fault.msg or type(fault).__name__}") from fault
