"""Route table for Microsoft.Resources (azure-mgmt-resource 26 sends api-version 2025-04-01)."""

from vmshift.lab.arm.resources import responses
from vmshift.lab.arm.routing import Route

API_VERSIONS = ("2025-04-01",)
_GROUP = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"

ROUTES = [
    Route("PUT", _GROUP, responses.create_or_update, API_VERSIONS),
    Route("GET", _GROUP, responses.get, API_VERSIONS),
    Route("HEAD", _GROUP, responses.check_existence, API_VERSIONS),
    Route("DELETE", _GROUP, responses.delete, API_VERSIONS),
    Route("GET", "/subscriptions/{subscriptionId}/resourcegroups", responses.list_groups, API_VERSIONS),
]
