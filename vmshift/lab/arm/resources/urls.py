"""Route table for Microsoft.Resources: ARM's own types, which all take ARM's api-versions (api_versions.ARM)."""

from vmshift.lab.arm.resources.responses import ResourcesResponse as R
from vmshift.lab.arm.resources.responses import TenancyResponse as T
from vmshift.lab.arm.routing import Route

_GROUPS = "Microsoft.Resources/resourceGroups"
_SUBSCRIPTIONS = "Microsoft.Resources/subscriptions"
_PROVIDERS = "Microsoft.Resources/providers"
_SUB = "/subscriptions/{subscriptionId}"
_GROUP = _SUB + "/resourcegroups/{resourceGroupName}"

ROUTES = [
    Route("PUT", _GROUP, R.method_dispatch(R.create_or_update), _GROUPS),
    Route("GET", _GROUP, R.method_dispatch(R.get), _GROUPS),
    Route("HEAD", _GROUP, R.method_dispatch(R.check_existence), _GROUPS),
    Route("DELETE", _GROUP, R.method_dispatch(R.delete), _GROUPS),
    Route("GET", _SUB + "/resourcegroups", R.method_dispatch(R.list_groups), _GROUPS),
    Route("GET", _GROUP + "/resources", R.method_dispatch(R.list_resources), _GROUPS),
    Route("GET", "/subscriptions", T.method_dispatch(T.list_subscriptions), _SUBSCRIPTIONS),
    Route("GET", _SUB, T.method_dispatch(T.get_subscription), _SUBSCRIPTIONS),
    Route("GET", "/tenants", T.method_dispatch(T.list_tenants), "Microsoft.Resources/tenants"),
    Route("GET", _SUB + "/providers", T.method_dispatch(T.list_providers), _PROVIDERS),
    Route("GET", _SUB + "/providers/{resourceProviderNamespace}", T.method_dispatch(T.get_provider), _PROVIDERS),
    Route("POST", _SUB + "/providers/{resourceProviderNamespace}/register", T.method_dispatch(T.register_provider),
          _PROVIDERS),
    Route("GET", "/providers", T.method_dispatch(T.list_providers), _PROVIDERS),
    Route("GET", "/providers/{resourceProviderNamespace}", T.method_dispatch(T.get_provider), _PROVIDERS),
]
