"""Blob clients for the cache storage account, from configuration alone (env), never from the lab."""

from __future__ import annotations

import os

from azure.storage.blob import BlobServiceClient

DEFAULT_BLOB_ENDPOINT = "https://{account}.blob.core.windows.net"


def account_url(account: str) -> str:
    """The account's blob endpoint: `VMSHIFT_BLOB_ENDPOINT` (a template with {account}) or Azure's public one."""
    template = os.environ.get("VMSHIFT_BLOB_ENDPOINT") or DEFAULT_BLOB_ENDPOINT
    return template.format(account=account)


def blob_service_client(account: str) -> BlobServiceClient:
    """A client for the account, with a shared key from `VMSHIFT_STORAGE_KEY_<ACCOUNT>` or Azure AD otherwise.

    `VMSHIFT_CA_FILE` adds a CA bundle (a private endpoint behind a TLS-inspecting proxy, or the lab).
    """
    key = os.environ.get(f"VMSHIFT_STORAGE_KEY_{account.upper()}")
    if key:
        credential: object = {"account_name": account, "account_key": key}
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    ca_file = os.environ.get("VMSHIFT_CA_FILE")
    return BlobServiceClient(account_url(account), credential=credential, connection_verify=ca_file or True)
