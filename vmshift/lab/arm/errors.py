"""ARM's refusals as one exception type, so every provider answers with Azure's error body and code."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """A refusal ARM makes: HTTP status, Azure's error code and message, optionally the offending field."""

    def __init__(
        self, status: int, code: str, message: str, target: str | None = None,
        details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


def resource_not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404, "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def invalid_parameter(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target)

