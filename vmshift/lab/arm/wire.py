"""ARM's wire format, shared by every provider: a resource's envelope, timestamps and etags."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any


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


def timestamp() -> str:
    """Now, as ARM writes times: ISO 8601 in UTC with a Z."""
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def weak_etag() -> str:
    """Microsoft.Network's etags are weak ones: W/"<uuid>"."""
    return f'W/"{uuid.uuid4()}"'
