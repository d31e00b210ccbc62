"""How tests reach the lab's ARM: azure-identity and the unmodified azure-mgmt-* clients, as the product does."""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

ARM_SCOPE = "https://management.azure.com/.default"
LOCATION = "westeurope"


@dataclass
class Arm:
    """One lab's ARM: its settings from lab.json and a management client per resource provider."""

    lab: dict
    credential: ClientSecretCredential
    resources: ResourceManagementClient
    network: NetworkManagementClient
    private_dns: PrivateDnsManagementClient
    storage: StorageManagementClient
    compute: ComputeManagementClient

    @property
    def subscription_id(self) -> str:
        return self.lab["arm"]["subscription_id"]

    @property
    def dns_address(self) -> tuple[str, int]:
        return self.lab["dns"]["host"], self.lab["dns"]["port"]

    def scope(self, group: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"

    def admin(self, path: str, body: dict | None = None) -> dict:
        """The lab's admin endpoints (outside ARM's paths): faults, approval rights; GET without a body."""
        url = f"{self.lab['arm']['endpoint']}{path}"
        response = requests.get(url, verify=self.lab["ca_file"], timeout=10) if body is None else \
            requests.post(url, data=json.dumps(body), verify=self.lab["ca_file"], timeout=10)
        response.raise_for_status()
        return response.json()


def lab_credential(lab: dict, secret: str | None = None) -> ClientSecretCredential:
    """How the product authenticates against the lab tenant (see vmshift/lab/arm/README.md)."""
    arm = lab["arm"]
    return ClientSecretCredential(arm["tenant_id"], arm["client_id"], secret or arm["client_secret"],
                                  authority=arm["authority"], disable_instance_discovery=True,
                                  connection_verify=lab["ca_file"])


def management_client(cls: type, lab: dict, credential: ClientSecretCredential, **kwargs: object):
    return cls(credential, lab["arm"]["subscription_id"], base_url=lab["arm"]["endpoint"],
               credential_scopes=[ARM_SCOPE], connection_verify=lab["ca_file"], **kwargs)
