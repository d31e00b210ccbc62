"""The permissions API: what the caller may do at a subscription, resource group or resource."""

from __future__ import annotations

from vmshift.lab.arm.authorization.models import AuthorizationBackend
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
