"""The permissions API, what the caller may do at a subscription, resource group or resource; and role
assignments at those scopes, as an administrator makes them."""

from __future__ import annotations

from typing import Any

from vmshift.lab.arm.authorization.models import ROLE_ASSIGNMENT, AuthorizationBackend
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse

_SUFFIX = "/providers/Microsoft.Authorization/permissions"


class AuthorizationResponse(BaseResponse[AuthorizationBackend]):
    backend_class = AuthorizationBackend

    def list_permissions(self) -> ArmResponse:
        """One entry per role assigned to the caller at or above the scope, as ARM lists them."""
        self.req.simulator.subscription_scope(self.subscription_id)
        scope = self.req.path.rstrip("/")[: -len(_SUFFIX)].replace("//", "/")
        assert self.req.caller is not None  # every ARM request is authenticated before it is routed
        entries = [{"actions": p.get("actions", []), "notActions": p.get("notActions", []),
                    "dataActions": p.get("dataActions", []), "notDataActions": p.get("notDataActions", [])}
                   for p in self.backend.permissions(self.req.caller.object_id, scope)]
        return self.listing(entries)

    def create_role_assignment(self) -> ArmResponse:
        """201 with the assignment (200 when the same one is put again); no long-running operation. Its scope
        must exist, as ARM refuses an assignment on a resource group or resource that does not."""
        self.req.simulator.subscription_scope(self.subscription_id)
        parts = self._scope.split("/")
        if len(parts) > 4:  # /subscriptions/{id}/resourceGroups/{group}[/providers/...]
            self.req.simulator.resource_group(self.subscription_id, parts[4])
        if len(parts) > 5 and self.req.simulator.store.get(self._scope) is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{'/'.join(parts[6:])}' under resource group "
                                                    f"'{parts[4]}' was not found.")
        properties = self.body.get("properties") or {}
        try:
            role, principal = str(properties["roleDefinitionId"]), str(properties["principalId"])
        except KeyError as missing:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                           f"deserialized: 'Required property {missing.args[0]} not found in JSON.'") from None
        assignment, created = self.backend.create_role_assignment(self._scope, self.param("roleAssignmentName"),
                                                                  role, principal, properties.get("principalType"))
        return ArmResponse(201 if created else 200, self._wire(assignment))

    def get_role_assignment(self) -> ArmResponse:
        self.req.simulator.subscription_scope(self.subscription_id)
        found = self.backend.role_assignment(self.req.path)
        if found is None:
            raise ArmError(404, "RoleAssignmentNotFound", "The role assignment '"
                           f"{self.param('roleAssignmentName')}' is not found.")
        return self.ok(self._wire(found))

    def delete_role_assignment(self) -> ArmResponse:
        """ARM answers 200 with what it deleted, 204 when there was nothing."""
        self.req.simulator.subscription_scope(self.subscription_id)
        found = self.backend.delete_role_assignment(self.req.path)
        return self.ok(self._wire(found)) if found else ArmResponse(204)

    @property
    def _scope(self) -> str:
        return self.req.path.rstrip("/").rsplit(f"/providers/{ROLE_ASSIGNMENT}/", 1)[0]

    def _wire(self, assignment: dict[str, Any]) -> dict[str, Any]:
        role_id = f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/" \
                  f"{assignment['roleDefinitionName']}"
        return {"id": assignment["id"], "name": assignment["name"], "type": ROLE_ASSIGNMENT, "properties": {
            "scope": assignment["scope"], "roleDefinitionId": role_id, "principalId": assignment["principalId"],
            "principalType": "ServicePrincipal"}}
