"""The management clients, pointed at the ARM endpoint and trusting the CA that the environment names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cached_property

from azure.core.credentials import TokenCredential
from azure.mgmt.authorization.v2022_04_01 import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.sqlvirtualmachine import SqlVirtualMachineManagementClient
from azure.mgmt.storage import StorageManagementClient

from vmshift.azure.credentials import azure_credential
from vmshift.tls import ca_file

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
# Tokens are always asked for the management audience: that is what ARM checks, whatever its URL.
_ARM_SCOPES = ["https://management.azure.com/.default"]


class AzureNotConfigured(RuntimeError):
    """The environment does not say which subscription to work in."""


@dataclass(frozen=True)
class AzureConfig:
    """Where ARM is and what to trust; read from the environment, never from the lab's files."""

    subscription_id: str
    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    ca_file: str | None = None

    @classmethod
    def from_env(cls) -> AzureConfig:
        subscription = os.environ.get("AZURE_SUBSCRIPTION_ID")
        if not subscription:
            raise AzureNotConfigured("AZURE_SUBSCRIPTION_ID is not set: export the migration subscription's ID")
        return cls(
            subscription_id=subscription,
            arm_endpoint=(os.environ.get("VMSHIFT_ARM_ENDPOINT") or PUBLIC_ARM_ENDPOINT).rstrip("/"),
            ca_file=ca_file(),
        )


@dataclass(frozen=True)
class AzureClients:
    """One client per resource provider, created on first use and shared by every step."""

    config: AzureConfig
    credential: TokenCredential = field(repr=False)

    def _options(self) -> dict:
        return {
            "base_url": self.config.arm_endpoint,
            "credential_scopes": _ARM_SCOPES,
            "connection_verify": self.config.ca_file or True,
        }

    @cached_property
    def authorization(self) -> AuthorizationManagementClient:
        """The permissions API's api-version (2022-04-01) pinned: the multi-version client picks per operation."""
        return AuthorizationManagementClient(self.credential, self.config.subscription_id, **self._options())

    @cached_property
    def compute(self) -> ComputeManagementClient:
        return ComputeManagementClient(self.credential, self.config.subscription_id, **self._options())

    @cached_property
    def network(self) -> NetworkManagementClient:
        return NetworkManagementClient(self.credential, self.config.subscription_id, **self._options())

    @cached_property
    def privatedns(self) -> PrivateDnsManagementClient:
        return PrivateDnsManagementClient(self.credential, self.config.subscription_id, **self._options())

    @cached_property
    def storage(self) -> StorageManagementClient:
        return StorageManagementClient(self.credential, self.config.subscription_id, **self._options())

    @cached_property
    def sql_virtual_machines(self) -> SqlVirtualMachineManagementClient:
        return SqlVirtualMachineManagementClient(self.credential, self.config.subscription_id, **self._options())

    def for_subscription(self, subscription_id: str) -> AzureClients:
        """The same identity and endpoint in another subscription (a VM's target_subscription); this one when
        it is the same."""
        if subscription_id.lower() == self.config.subscription_id.lower():
            return self
        return AzureClients(replace(self.config, subscription_id=subscription_id), self.credential)


def connect(config: AzureConfig | None = None) -> AzureClients:
    """Clients for the subscription in the environment (or the given config)."""
    return AzureClients(config or AzureConfig.from_env(), azure_credential())
