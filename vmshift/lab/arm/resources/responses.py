"""HTTP for Microsoft.Resources: resource groups, subscriptions, tenants, resource providers."""

from __future__ import annotations

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.identity import Caller
from vmshift.lab.arm.resources.models import ResourcesBackend, TenancyBackend
from vmshift.lab.arm.responses import BaseResponse
from vmshift.lab.arm.routing import ArmResponse


class ResourcesResponse(BaseResponse[ResourcesBackend]):
    backend_class = ResourcesBackend

    def create_or_update(self) -> ArmResponse:
        group, created = self.backend.create_or_update_resource_group(self.subscription_id, self.group, self.body)
        return ArmResponse(201 if created else 200, group)

    def get(self) -> ArmResponse:
        return self.ok(self.backend.get_resource_group(self.subscription_id, self.group))

    def check_existence(self) -> ArmResponse:
        try:
            self.get()
        except ArmError as error:
            if error.status == 404:
                return ArmResponse(404)
            raise
        return ArmResponse(204)

    def list_groups(self) -> ArmResponse:
        return self.listing(self.backend.list_resource_groups(self.subscription_id))

    def list_resources(self) -> ArmResponse:
        if {"$filter", "$top"} & self.req.query.keys():
            raise ArmError(400, "BadRequest", "The lab does not simulate $filter or $top on a resource group's "
                           "resources.")
        return self.listing(self.backend.list_resources(self.subscription_id, self.group,
                                                        self.req.query.get("$expand")))

    def delete(self) -> ArmResponse:
        group = self.backend.delete_resource_group(self.subscription_id, self.group)
        return self.accepted_action(group["location"])


class TenancyResponse(BaseResponse[TenancyBackend]):
    backend_class = TenancyBackend

    def list_subscriptions(self) -> ArmResponse:
        return self.listing(self.backend.list_subscriptions(self._caller))

    def get_subscription(self) -> ArmResponse:
        return self.ok(self.backend.get_subscription(self.subscription_id, self._caller))

    @property
    def _caller(self) -> Caller:
        assert self.req.caller is not None  # ARM answers no request without a token
        return self.req.caller

    def list_tenants(self) -> ArmResponse:
        return self.listing(self.backend.list_tenants())

    def list_providers(self) -> ArmResponse:
        return self.listing(self.backend.list_providers(self.req.params.get("subscriptionId")))

    def get_provider(self) -> ArmResponse:
        return self.ok(self.backend.get_provider(self.req.params.get("subscriptionId"),
                                                 self.param("resourceProviderNamespace")))

    def register_provider(self) -> ArmResponse:
        """Every provider the lab holds is registered already; registering again answers it, as ARM does."""
        return self.get_provider()
