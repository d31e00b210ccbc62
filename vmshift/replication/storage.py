"""Blob clients for the cache storage account, from configuration alone (env), never from the lab."""

from __future__ import annotations

import os

from azure.storage.blob import BlobServiceClient

from vmshift.azure.credentials import azure_credential
from vmshift.tls import ca_file

DEFAULT_BLOB_ENDPOINT = "https://{account}.blob.core.windows.net"


def account_url(account: str) -> str:
    """The account's blob endpoint: `VMSHIFT_BLOB_ENDPOINT` (a template with {account}) or Azure's public one."""
    template = os.environ.get("VMSHIFT_BLOB_ENDPOINT") or DEFAULT_BLOB_ENDPOINT
    return template.format(account=account)


def blob_service_client(account: str, key: str | None = None, url: str | None = None) -> BlobServiceClient:
    """A client for the account: with its shared key (given, as ARM's listKeys returns it, or from
    `VMSHIFT_STORAGE_KEY_<ACCOUNT>`), or else as the service principal vmshift acts as (Azure AD).

    `VMSHIFT_CA_FILE` adds a CA bundle (a private endpoint behind a TLS-inspecting proxy, or the lab).
    """
    key = key or os.environ.get(f"VMSHIFT_STORAGE_KEY_{account.upper()}")
    credential: object = {"account_name": account, "account_key": key} if key else azure_credential()
    return BlobServiceClient(url or account_url(account), credential=credential, connection_verify=ca_file() or True)
