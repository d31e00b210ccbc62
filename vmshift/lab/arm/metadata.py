"""`GET /metadata/endpoints`: the lab described as a cloud, as ARM describes Azure's, for the clients that
discover their endpoints there before signing in (`az cloud register --endpoint-resource-manager`, which
asks 2022-09-01 and maps the object with azure.cli.core.cloud._arm_to_cli_mapper; Azure Stack's tooling asks
2015-01-01; ARM_CLOUD_METADATA_URL readers a list, 2019-05-01 or 2020-06-01).

The lab's own parts are its ARM endpoint and its authority; the services it does not simulate keep the
public cloud's names (as azure.cli.core.cloud.AZURE_PUBLIC_CLOUD has them), which clients need to be
present but the lab never reaches.
"""

from __future__ import annotations

from typing import Any

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.simulator import Settings

# The shape each version has, from the clients that read it:
# - 2015-01-01: one object, {galleryEndpoint, graphEndpoint, portalEndpoint, authentication: {loginEndpoint,
#   audiences}}: Azure Stack's tooling and aks-engine's scripts read those keys (audiences[0] as ARM's audience).
# - 2019-05-01: a list of clouds: azure-cli's test_metadata_url_endpoints sets ARM_CLOUD_METADATA_URL to it, and
#   azure.cli.core.cloud (commit 004224f7) maps each item with _arm_to_cli_mapper (_convert_arm_to_cli).
# - 2020-06-01: a list of clouds: Az PowerShell's `Add-AzEnvironment -AutoDiscover` URLs and the Go readers
#   Terraform's providers use (FromEndpoint, getSupportedEnvironments) decode it as []Environment; Ansible's
#   azure.azcollection reads it through azure-cli-core (tests/clients).
# - 2022-09-01: one cloud: `az cloud register` (Azure CLI 2.91) asks it and maps the object with
#   _arm_to_cli_mapper (tests/clients, from its --debug log).
# Not served: 2017-12-01 (a third shape, `cloudEndpoint.<cloud>.locations`, in Azure's instance-metadata docs) and
# Azure Stack's `1.0`; no client here asks them and their shapes are not documented enough to simulate. ARM's own
# refusal for this endpoint was not found quoted anywhere: the message below lists what the lab serves.
VERSIONS = ("2015-01-01", "2019-05-01", "2020-06-01", "2022-09-01")
CLOUD_NAME = "VmshiftLab"
# ARM's own audiences, in ARM's order: the first is the one az asks a token for (`<audience>/.default`).
AUDIENCES = ["https://management.core.windows.net/", "https://management.azure.com/"]


def endpoints(settings: Settings, base_url: str, api_version: str | None) -> Any:
    if not api_version:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    if api_version not in VERSIONS:
        raise ArmError(400, "InvalidApiVersionParameter", f"The api-version '{api_version}' is invalid. The "
                       f"supported versions are '{', '.join(reversed(VERSIONS))}'.")
    if api_version == "2015-01-01":
        return {"galleryEndpoint": "https://gallery.azure.com/", "graphEndpoint": "https://graph.windows.net/",
                "portalEndpoint": "https://portal.azure.com/", "graphAudience": "https://graph.windows.net/",
                "authentication": {"loginEndpoint": f"{base_url}/", "audiences": AUDIENCES}}
    cloud = lab_cloud(base_url)
    return cloud if api_version == "2022-09-01" else [cloud]


def lab_cloud(base_url: str) -> dict[str, Any]:
    return {
        "name": CLOUD_NAME,
        "resourceManager": f"{base_url}/",
        "authentication": {"loginEndpoint": base_url, "audiences": AUDIENCES, "tenant": "common",
                           "identityProvider": "AAD"},
        "portal": "https://portal.azure.com",
        "media": "https://rest.media.azure.net",
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "batch": "https://batch.core.windows.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "gallery": "https://gallery.azure.com/",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "vmImageAliasDoc": "https://azcliprod.blob.core.windows.net/cli/vm/aliases.json",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net",
        "suffixes": {
            # Storage accounts are <name>.blob.core.windows.net, which the lab's DNS answers.
            "storage": "core.windows.net",
            "keyVaultDns": "vault.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net",
        },
    }
