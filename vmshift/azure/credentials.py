"""The identity vmshift acts as in the migration subscription, from the environment alone."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.identity import AzureAuthorityHosts, ClientSecretCredential, DefaultAzureCredential

from vmshift.tls import ca_file

# MSAL validates an authority by asking the public cloud's instance discovery endpoint; an authority
# it does not know (Azure Stack, a private cloud) can only be used with discovery turned off.
_KNOWN_AUTHORITY_HOSTS = {
    AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
    AzureAuthorityHosts.AZURE_GOVERNMENT,
    AzureAuthorityHosts.AZURE_CHINA,
}


def azure_credential() -> TokenCredential:
    """A service principal from `AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET` when set, else the default chain.

    `AZURE_AUTHORITY_HOST` selects the cloud's token authority; TLS trusts `VMSHIFT_CA_FILE` as well.
    """
    verify: str | bool = ca_file() or True
    authority = os.environ.get("AZURE_AUTHORITY_HOST") or f"https://{AzureAuthorityHosts.AZURE_PUBLIC_CLOUD}"
    host = urlsplit(authority if "://" in authority else f"https://{authority}").hostname or ""
    discovery_off = host not in _KNOWN_AUTHORITY_HOSTS
    secret = os.environ.get("AZURE_CLIENT_SECRET")
    if secret and os.environ.get("AZURE_TENANT_ID") and os.environ.get("AZURE_CLIENT_ID"):
        return ClientSecretCredential(
            os.environ["AZURE_TENANT_ID"],
            os.environ["AZURE_CLIENT_ID"],
            secret,
            authority=authority,
            disable_instance_discovery=discovery_off,
            connection_verify=verify,
        )
    return DefaultAzureCredential(authority=authority, connection_verify=verify)
