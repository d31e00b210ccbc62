"""The response base every provider's responses.py builds on, as moto's BaseResponse: one instance per
request, with the provider's `backend`, the path's parameters, and ARM's ways of answering written once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

from vmshift.lab.arm import lro
from vmshift.lab.arm.backend import BaseBackend
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, Handler

B = TypeVar("B", bound=BaseBackend)


class BaseResponse(Generic[B]):
    """HTTP to calls on one provider's backend, and the results back to ARM's wire format."""

    backend_class: ClassVar[type[BaseBackend]]

    def __init__(self, req: ArmRequest) -> None:
        self.req = req

    @classmethod
    def method_dispatch(cls, method: Callable[[Self], ArmResponse]) -> Handler:
        """The route handler that runs `method` on a new instance for each request (moto's method_dispatch)."""
        name = method.__name__

        @functools.wraps(method)
        def handler(req: ArmRequest) -> ArmResponse:
            return getattr(cls(req), name)()
        return handler

    @functools.cached_property
    def backend(self) -> B:
        return self.backend_class(self.req.simulator)  # type: ignore[return-value]

    @property
    def namespace(self) -> str:
        return self.backend_class.namespace

    @property
    def subscription_id(self) -> str:
        return self.req.params["subscriptionId"]

    @property
    def group(self) -> str:
        return self.req.params["resourceGroupName"]

    @property
    def group_if_any(self) -> str | None:
        """The resource group of a listing, or None for ARM's subscription-wide listing of the same type."""
        return self.req.params.get("resourceGroupName")

    def param(self, name: str) -> str:
        """A parameter of the path, by its name in the REST spec's URL template."""
        return self.req.params[name]

    @property
    def body(self) -> dict[str, Any]:
        return self.req.json()

    @staticmethod
    def ok(body: Any) -> ArmResponse:
        return ArmResponse(200, body)

    @staticmethod
    def listing(items: list[dict[str, Any]]) -> ArmResponse:
        return ArmResponse(200, {"value": items})

    def accepted_put(self, resource: dict[str, Any], created: bool, location: str = "global",
                     store: bool = True) -> ArmResponse:
        """A PUT Azure answers 201/200 with an Azure-AsyncOperation to poll (see lro.accepted_put)."""
        return lro.accepted_put(self.req, self.namespace, resource["id"], resource, created, location, store)

    def accepted_create(self, resource: dict[str, Any], created: bool) -> ArmResponse:
        """A PUT Azure answers 202 with a Location to poll (see lro.accepted_create)."""
        return lro.accepted_create(self.req, self.namespace, resource, created, resource["location"])

    def accepted_action(self, location: str = "global", result: Any = None) -> ArmResponse:
        """A POST action: 202, then its result at the Location URL."""
        return lro.accepted_action(self.req, self.namespace, location, result)

    def deleted(self, found: dict[str, Any] | None, location: str | None = None) -> ArmResponse:
        """ARM answers DELETE of something absent with 204, of something present with a long-running operation
        in the resource's region (a child's is its parent's: `location`); global resources poll 'global'."""
        if not found:
            return ArmResponse(204)
        return self.accepted_action(location or found.get("location") or "global")
