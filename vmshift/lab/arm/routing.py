"""ARM's route table: case-insensitive URL templates, each with the api-versions its provider accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.simulator import Simulator


@dataclass
class ArmRequest:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    raw_body: bytes
    base_url: str
    api_version: str | None
    simulator: Simulator

    def json(self) -> dict[str, Any]:
        if not self.raw_body:
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                           f"deserialized: '{exc}'.") from exc
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return body


@dataclass
class ArmResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


Handler = Callable[[ArmRequest], ArmResponse]


@dataclass(frozen=True)
class Route:
    """One ARM operation: method, URL template as in the REST spec, and the api-versions it answers."""

    method: str
    template: str
    handler: Handler
    api_versions: tuple[str, ...] = ()
    namespace: str = "Microsoft.Resources"

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{regex}/?$", re.IGNORECASE)


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route, route.pattern()) for route in routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for a request; ARM answers an unknown path or verb with its own codes."""
        path_matched = False
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            path_matched = True
            if route.method == method:
                return route, found.groupdict()
        if path_matched:
            raise ArmError(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        raise ArmError(404, "InvalidResourceType", f"The resource type could not be found for the path '{path}'.")

    @staticmethod
    def check_api_version(route: Route, api_version: str | None, resource_type: str) -> None:
        """Refuse a missing or unsupported api-version as ARM does, naming the ones that work."""
        if not route.api_versions:
            return
        if not api_version:
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if api_version in route.api_versions:
            return
        supported = ", ".join(route.api_versions)
        if route.namespace == "Microsoft.Resources":
            raise ArmError(400, "InvalidApiVersionParameter",
                           f"The api-version '{api_version}' is invalid. The supported versions are '{supported}'.")
        raise ArmError(
            400, "NoRegisteredProviderFound",
            f"No registered resource provider found for location 'global' and API version '{api_version}' "
            f"for type '{resource_type}'. The supported api-versions are '{supported}'.",
        )


def arm_resource(resource_id: str, resource_type: str, location: str | None, properties: dict[str, Any],
                 tags: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A resource as ARM returns it: id, name, type, location, tags, properties."""
    body: dict[str, Any] = {"id": resource_id, "name": resource_id.rsplit("/", 1)[-1], "type": resource_type}
    if location is not None:
        body["location"] = location
    body["tags"] = tags or {}
    body.update(extra)
    body["properties"] = properties
    return body


def listing(items: list[dict[str, Any]]) -> ArmResponse:
    return ArmResponse(200, {"value": items})
