"""Errors of the Azure side, each with a message that says what to change and where."""

from __future__ import annotations


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


class DiskVerificationFailed(AzureStepError):
    """A migrated managed disk differs from the final source snapshot."""


class DiskFromOtherRecoveryPoint(AzureStepError):
    """A managed disk of the target name exists but holds another recovery point's bytes."""


class RollbackRefused(AzureStepError):
    """The cutover cannot be rolled back: its migration was completed, so replication cannot resume."""
