"""ARM's route table: case-insensitive URL templates, each with the resource type whose api-versions it takes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vmshift.lab.arm import api_versions
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.identity import Caller
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
    caller: Caller | None = None

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
    """One ARM operation: method, URL template as in the REST spec, and the resource type it acts on, whose
    api-versions (api_versions.py) it answers. A type may name a path parameter: 'privateDnsZones/{recordType}'."""

    method: str
    template: str
    handler: Handler
    resource_type: str

    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        return re.compile(f"^{regex}/?$", re.IGNORECASE)

    def type_of(self, params: dict[str, str]) -> str:
        """The resource type this request acts on, as the table knows it (a record type in upper case)."""
        known = self.resource_type.format(**{k: v.upper() for k, v in params.items()})
        while known not in api_versions.RESOURCE_TYPES and known.count("/") > 1:
            known = known.rsplit("/", 1)[0]
        return known


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


def check_api_version(resource_type: str, api_version: str | None, location: str, locations: list[str]) -> None:
    """Refuse a missing or unpublished api-version as ARM does, naming the ones that work: ARM's own types
    (Microsoft.Resources) with InvalidApiVersionParameter, newest first; a provider's with
    NoRegisteredProviderFound, oldest first, with the region asked for and those the type is offered in."""
    if not api_version:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    versions = api_versions.supported(resource_type)
    if api_version in versions:
        return
    namespace, _, type_name = resource_type.partition("/")
    if namespace == "Microsoft.Resources":
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{api_version}' is invalid. The supported versions are "
                       f"'{', '.join(reversed(versions))}'.")
    raise ArmError(
        400, "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version '{api_version}' for "
        f"type '{type_name}'. The supported api-versions are '{', '.join(versions)}'. The supported locations "
        f"are '{', '.join(locations)}'.",
    )
