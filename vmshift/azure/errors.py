"""Errors of the Azure side, each with a message that says what to change and where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmshift.azure.permissions import MissingAction


class AzureStepError(Exception):
    """A step on the Azure side cannot go on; the message says why and what to do."""


class PreflightFailed(AzureStepError):
    """The cache storage account cannot serve replication and disk import as configured."""

    def __init__(self, account: str, problems: list[str]) -> None:
        self.account = account
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"storage account {account} fails the preflight:\n{listed}")


class PrivateEndpointRejected(AzureStepError):
    """The storage account's owner rejected (or removed) the private endpoint connection."""


class PrivateEndpointConflict(AzureStepError):
    """The endpoint cannot be placed: its subnet is missing, or its name is taken by another resource's endpoint."""


class ApprovalTimedOut(AzureStepError):
    """Nobody approved the private endpoint connection within the configured wait."""


class DnsGateFailed(AzureStepError):
    """The blob FQDN does not resolve to the private endpoint from the appliance: nothing may replicate."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class BuildInputInvalid(AzureStepError):
    """A target VM's settings cannot work; raised before any Azure resource is created."""

    def __init__(self, vm: str, field: str, problem: str) -> None:
        self.vm = vm
        self.field = field
        self.problem = problem
        super().__init__(f"VM {vm}: {field}: {problem}")


class BuildIncomplete(AzureStepError):
    """Azure refused a step after part of what it builds was built (or a clean-up after part was deleted): names
    each resource that exists, keeps Azure's own reason (a 403 names the action and the scope), and says how to go
    on or clean up. Raised through vmshift.azure.built.naming_what_exists."""

    def __init__(self, what: str, built: tuple[str, ...], error: Exception, clean_up: str, again: str) -> None:
        self.what = what
        self.built = built
        self.error = error
        reason = getattr(getattr(error, "error", None), "message", None) or str(error).splitlines()[0]
        code = getattr(getattr(error, "error", None), "code", None)
        exists = "\n".join(f"  - {resource}" for resource in built) or "  (nothing yet)"
        super().__init__(
            f"Azure refused {what} ({f'{code}: ' if code else ''}{reason}). What exists of it:\n{exists}\n"
            f"Fix what Azure names and {again}, or delete them ({clean_up})"
        )


class DiskFromOtherRecoveryPoint(AzureStepError):
    """A managed disk of the target name exists but holds another recovery point's bytes."""


class RollbackRefused(AzureStepError):
    """The cutover cannot be rolled back: its migration was completed, so replication cannot resume."""


class PermissionsMissing(AzureStepError):
    """The identity vmshift signs in as lacks Azure actions a step needs; found before anything is built, all of
    them at once."""

    def __init__(self, identity: str, step: str, missing: Sequence[MissingAction]) -> None:
        self.identity = identity
        self.step = step
        self.missing = list(missing)
        listed = "\n".join(f"  - {m.action} at {m.scope_id} ({m.scope}): needed for {m.calls}; granted by the "
                           f"custom role '{m.role.name}' ({m.role.file})" for m in self.missing)
        roles = sorted({(m.role.name, m.role.file) for m in self.missing})
        assign = "; ".join(f"'{name}' ({file})" for name, file in roles)
        super().__init__(
            f"{identity} lacks {len(self.missing)} Azure action(s) vmshift needs for {step}:\n{listed}\n"
            f"Assign {assign} to {identity} at each scope named (docs/permissions.md), then run this again; "
            "nothing was created"
        )
