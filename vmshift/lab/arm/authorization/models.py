"""Azure RBAC as ARM evaluates it: role definitions (Microsoft's built-in ones and custom roles), role
assignments at subscription, resource group and resource scope, and the answer to "may this principal perform
this action at this scope". Data actions are left aside: the lab's data plane is Azurite, with shared keys.

The evaluation is written again here rather than imported from vmshift.azure.permissions: the lab stands in
for ARM, and vmshift's own evaluation of the permissions API is what the lab is there to check.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.identity import object_id

BUILTIN_ROLES_FILE = Path(__file__).with_name("builtin_roles.json")
ROLE_DEFINITION = "Microsoft.Authorization/roleDefinitions"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
_CUSTOM_ROLES = uuid.UUID("2b0e8f3a-5c4d-4e1f-9a7b-3c6d8e0f1a2b")


@cache
def builtin_roles() -> tuple[dict[str, Any], ...]:
    """Microsoft's built-in roles the lab knows, as the built-in roles page lists their permissions."""
    return tuple(json.loads(BUILTIN_ROLES_FILE.read_text()))


@cache
def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, wildcard.split("*"))), re.IGNORECASE)


def matches(pattern: str, action: str) -> bool:
    """An action against a role's action or notAction: case-insensitive, `*` any run of characters."""
    return _pattern(pattern).fullmatch(action) is not None


def grants(permission: dict[str, Any], action: str) -> bool:
    """One role's permission block: its actions allow the action and its own notActions do not take it back."""
    return any(matches(p, action) for p in permission.get("actions", ())) and not any(
        matches(p, action) for p in permission.get("notActions", ()))


def covers(assignment_scope: str, scope: str) -> bool:
    """An assignment reaches its scope and everything below it."""
    outer, inner = assignment_scope.rstrip("/").lower(), scope.rstrip("/").lower()
    return inner == outer or inner.startswith(outer + "/")


def absolute_scope(subscription_id: str, scope: str) -> str:
    """A scope as the lab spec writes it, relative to the lab's subscription ("", "resourceGroups/rg-hub"), or an
    ID that starts with /subscriptions/."""
    if scope.lower().startswith("/subscriptions/"):
        return scope.rstrip("/")
    return f"/subscriptions/{subscription_id}/{scope.strip('/')}".rstrip("/")


def custom_role(definition: dict[str, Any]) -> dict[str, Any]:
    """A custom role from the JSON `az role definition create --role-definition` takes (Name, Actions...)."""
    name = definition["Name"]
    return {
        "name": str(uuid.uuid5(_CUSTOM_ROLES, name.lower())),
        "roleName": name, "description": definition.get("Description", ""), "roleType": "CustomRole",
        "permissions": [{"actions": list(definition.get("Actions", [])),
                         "notActions": list(definition.get("NotActions", [])),
                         "dataActions": list(definition.get("DataActions", [])),
                         "notDataActions": list(definition.get("NotDataActions", []))}],
    }


class AuthorizationBackend(BaseBackend):
    """Role definitions (the custom ones kept in the lab's subscription) and assignments in any subscription of
    the tenant, and what they allow."""

    namespace = "Microsoft.Authorization"

    @property
    def _subscription(self) -> str:
        return f"/subscriptions/{self.simulator.settings.subscription_id}"

    def role_definitions(self) -> list[dict[str, Any]]:
        return [*builtin_roles(), *self.store.list(ROLE_DEFINITION, self._subscription)]

    def role_definition(self, role_name: str) -> dict[str, Any]:
        """A role by its name ("Reader", "vmshift Migration Operator"); ARM's 404 RoleDefinitionDoesNotExist."""
        for definition in self.role_definitions():
            if definition["roleName"].lower() == role_name.lower():
                return definition
        raise ArmError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{role_name}' "
                                                          "does not exist.")

    def create_or_update_role_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        role = custom_role(definition)
        if any(r["roleName"].lower() == role["roleName"].lower() for r in builtin_roles()):
            raise ArmError(409, "RoleDefinitionWithSameNameExists",
                           f"A role definition cannot be updated with a name that already exists: {role['roleName']}.")
        role_id = f"{self._subscription}/providers/{ROLE_DEFINITION}/{role['name']}"
        self.store.put(role_id, {**role, "id": role_id, "type": ROLE_DEFINITION})
        return role

    def assignments(self, principal_id: str) -> list[dict[str, Any]]:
        """The principal's assignments in every subscription of the tenant."""
        return [a for a in self.store.list(ROLE_ASSIGNMENT)
                if a["principalId"].lower() == principal_id.lower()]

    def holds_role_in(self, principal_id: str, subscription_scope: str) -> bool:
        """ARM shows a subscription to whoever holds a role in it: at it, or on anything below it."""
        return any(covers(subscription_scope, a["scope"]) or covers(a["scope"], subscription_scope)
                   for a in self.assignments(principal_id))

    def set_assignments(self, principal_id: str, assignments: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """The principal holds exactly these (role name, scope) assignments from now on."""
        wanted = [(self.role_definition(role), scope) for role, scope in assignments]
        for current in self.assignments(principal_id):
            self.store.delete(current["id"])
        for role, scope in wanted:
            name = str(uuid.uuid4())
            assignment_id = f"{scope.rstrip('/')}/providers/{ROLE_ASSIGNMENT}/{name}"
            self.store.put(assignment_id, {"id": assignment_id, "name": name, "type": ROLE_ASSIGNMENT,
                                           "principalId": principal_id, "roleDefinitionName": role["name"],
                                           "roleName": role["roleName"], "scope": scope.rstrip("/")})
        return self.assignments(principal_id)

    def create_role_assignment(self, scope: str, name: str, role_definition_id: str, principal_id: str,
                               principal_type: str | None) -> tuple[dict[str, Any], bool]:
        """An assignment as an administrator makes one through ARM (roleAssignments.create), with ARM's refusals
        of a name that is not a GUID, a role or principal it does not know, a principal type that is not the
        principal's (every principal of the lab is a service principal), and the same assignment twice."""
        try:
            uuid.UUID(name)
        except ValueError:
            raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid. The "
                                                           "role assignment ID must be a GUID.") from None
        role_guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
        role = next((r for r in self.role_definitions() if r["name"].lower() == role_guid), None)
        if role is None:
            raise ArmError(400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{role_guid}' "
                                                              "does not exist.")
        if principal_id.lower() not in self._principals():
            raise ArmError(400, "PrincipalNotFound", f"Principal {principal_id.replace('-', '')} does not exist in "
                           f"the directory {self.simulator.settings.tenant_id}. Check that you have the correct "
                           "principal ID.")
        if principal_type and principal_type.lower() != "serviceprincipal":
            # ARM's message, its spelling included.
            raise ArmError(400, "UnmatchedPrincipalType", f"The PrincipalId '{principal_id.replace('-', '')}' has "
                           f"type 'ServicePrincipal' , which is different from specified PrinciaplType "
                           f"'{principal_type}'.")
        assignment_id = f"{scope.rstrip('/')}/providers/{ROLE_ASSIGNMENT}/{name}"
        existing = self.store.get(assignment_id)
        for other in self.assignments(principal_id):
            if (other["roleDefinitionName"].lower(), other["scope"].lower()) == (role["name"].lower(),
                                                                                 scope.rstrip("/").lower()) \
                    and other["id"].lower() != assignment_id.lower():
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        assignment = {"id": assignment_id, "name": name, "type": ROLE_ASSIGNMENT, "principalId": principal_id,
                      "roleDefinitionName": role["name"], "roleName": role["roleName"], "scope": scope.rstrip("/")}
        self.store.put(assignment_id, assignment)
        return assignment, existing is None

    def role_assignment(self, assignment_id: str) -> dict[str, Any] | None:
        return self.store.get(assignment_id)

    def delete_role_assignment(self, assignment_id: str) -> dict[str, Any] | None:
        found = self.store.get(assignment_id)
        if found:
            self.store.delete(assignment_id)
        return found

    def _principals(self) -> set[str]:
        """The service principals of the lab tenant: vmshift's app and the lab's administrator app."""
        settings = self.simulator.settings
        return {object_id(app).lower() for app in (settings.client_id, settings.admin_client_id) if app}

    def permissions(self, principal_id: str, scope: str) -> list[dict[str, Any]]:
        """What the permissions API answers: the permissions of each role assigned at or above the scope."""
        roles = {r["name"]: r for r in self.role_definitions()}
        found = []
        for assignment in self.assignments(principal_id):
            if covers(assignment["scope"], scope):
                role = roles.get(assignment["roleDefinitionName"])
                found.extend(role["permissions"] if role else [])
        return found

    def allows(self, principal_id: str, action: str, scope: str) -> bool:
        return any(grants(permission, action) for permission in self.permissions(principal_id, scope))
