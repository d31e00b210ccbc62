"""How tests reach the lab's ARM: azure-identity and the unmodified azure-mgmt-* clients, as the product does."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import PrivateEndpoint, PrivateLinkServiceConnection, Subnet
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import (
    PrivateEndpointConnection,
    PrivateLinkServiceConnectionState,
    StorageAccountCreateParameters,
)
from azure.mgmt.storage.models import Sku as StorageSku
from azure.storage.blob import BlobServiceClient

ARM_SCOPE = "https://management.azure.com/.default"
LOCATION = "westeurope"
CACHE_ACCOUNT = "vmshiftcache01"
MIB = 1024 * 1024


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


def admin_credential(lab: dict) -> ClientSecretCredential:
    """The lab's administrator app, Owner of the subscription: these tests check the simulator's resources, not
    what vmshift's own app may do (tests/arm/test_rbac.py does)."""
    arm = lab["arm"]
    return ClientSecretCredential(arm["tenant_id"], arm["admin_client_id"], arm["admin_client_secret"],
                                  authority=arm["authority"], disable_instance_discovery=True,
                                  connection_verify=lab["ca_file"])


def management_client(cls: type, lab: dict, credential: ClientSecretCredential, **kwargs: object):
    return cls(credential, lab["arm"]["subscription_id"], base_url=lab["arm"]["endpoint"],
               credential_scopes=[ARM_SCOPE], connection_verify=lab["ca_file"], **kwargs)


def fixed_vhd(folder: Path, data: bytes) -> bytes:
    """The blob a replication leaves: the data and a fixed-VHD footer, made by qemu-img."""
    raw, vhd = folder / "disk.raw", folder / "disk.vhd"
    raw.write_bytes(data)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size",
                    str(raw), str(vhd)], check=True)
    return vhd.read_bytes()


def upload_page_blob(arm: Arm, name: str, content: bytes) -> str:
    key = arm.lab["azurite"]["accounts"][CACHE_ACCOUNT]
    service = BlobServiceClient(arm.lab["azurite"]["blob_endpoint"].format(account=CACHE_ACCOUNT),
                                credential={"account_name": CACHE_ACCOUNT, "account_key": key},
                                connection_verify=arm.lab["ca_file"])
    container = service.get_container_client("replicas")
    if not container.exists():
        container.create_container()
    blob = container.get_blob_client(name)
    blob.create_page_blob(len(content))
    for offset in range(0, len(content), 4 * MIB):
        chunk = content[offset:offset + 4 * MIB]
        if chunk.count(0) != len(chunk):
            blob.upload_page(chunk, offset=offset, length=len(chunk))
    return blob.url


def create_account(arm: Arm, group: str, name: str, kind: str = "StorageV2") -> str:
    """A storage account as vmshift's cache account is made (ARM publishes it to Azurite); its ID."""
    account = arm.storage.storage_accounts.begin_create(group, name, StorageAccountCreateParameters(
        location=LOCATION, kind=kind, sku=StorageSku(name="Standard_LRS"))).result()
    return account.id


def blob_endpoint(arm: Arm, group: str, name: str, subnet_id: str, account_id: str,
                  manual: bool = False) -> PrivateEndpoint:
    """A private endpoint to the account's blob service; `manual` leaves its connection for the owner to approve."""
    connection = PrivateLinkServiceConnection(name=f"{name}-blob", private_link_service_id=account_id,
                                              group_ids=["blob"], request_message="vmshift replication")
    endpoint = PrivateEndpoint(location=LOCATION, subnet=Subnet(id=subnet_id))
    if manual:
        endpoint.manual_private_link_service_connections = [connection]
    else:
        endpoint.private_link_service_connections = [connection]
    return arm.network.private_endpoints.begin_create_or_update(group, name, endpoint).result()


def decide(arm: Arm, group: str, account: str, connection: str, status: str) -> PrivateEndpointConnection:
    """The account owner's click in Networking > Private endpoint connections."""
    return arm.storage.private_endpoint_connections.put(group, account, connection, PrivateEndpointConnection(
        private_link_service_connection_state=PrivateLinkServiceConnectionState(
            status=status, description=f"{status} by the storage team")))
