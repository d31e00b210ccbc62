"""What every provider's backend stands on, as moto's BaseBackend: the simulator, its store, and the
lookups each provider would otherwise write again (its scope in a group, a resource or ARM's 404)."""

from __future__ import annotations

from typing import Any, ClassVar

from vmshift.lab.arm.errors import resource_not_found
from vmshift.lab.arm.simulator import Simulator


class BaseBackend:
    """State and behaviour of one resource provider; methods are named after its REST operations."""

    namespace: ClassVar[str]

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.store = simulator.store

    def _scope(self, subscription_id: str, group: str) -> str:
        """Where the provider's resources of a group live: `<group id>/providers/<namespace>`."""
        return f"{self.simulator.group_scope(subscription_id, group)}/providers/{self.namespace}"

    def _list(self, resource_type: str, subscription_id: str, group: str | None) -> list[dict[str, Any]]:
        """A type's resources in a group, or in the whole subscription (ARM's listAll) when group is None."""
        scope = self._scope(subscription_id, group) if group else self.simulator.subscription_scope(subscription_id)
        return self.store.list(resource_type, scope)

    def _find(self, subscription_id: str, group: str, collection: str, name: str) -> dict[str, Any] | None:
        return self.store.get(f"{self._scope(subscription_id, group)}/{collection}/{name}")

    def _get(self, resource_type: str, subscription_id: str, group: str, collection: str,
             name: str) -> dict[str, Any]:
        """The resource, or ARM's 404 ResourceNotFound naming its type and group."""
        resource = self._find(subscription_id, group, collection, name)
        if resource is None:
            raise resource_not_found(resource_type, name, group)
        return resource
