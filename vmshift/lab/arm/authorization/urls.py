"""Route table for Microsoft.Authorization: the permissions API and role assignments at each kind of scope."""

from vmshift.lab.arm.authorization.responses import AuthorizationResponse as A
from vmshift.lab.arm.routing import Route

_TYPE = "Microsoft.Authorization/permissions"
_PERMISSIONS = "/providers/Microsoft.Authorization/permissions"
_SUB = "/subscriptions/{subscriptionId}"
_GROUP = _SUB + "/resourceGroups/{resourceGroupName}"
_RESOURCE = _GROUP + "/providers/{resourceProviderNamespace}/{resourceType}/{resourceName}"
# The SDK's list_for_resource with no parent (parent_resource_path="") sends an empty segment, which ARM takes.
_TOP_LEVEL = _GROUP + "/providers/{resourceProviderNamespace}//{resourceType}/{resourceName}"
_CHILD = _GROUP + "/providers/{resourceProviderNamespace}/{parentType}/{parentName}/{resourceType}/{resourceName}"

ROUTES = [
    Route("GET", scope + _PERMISSIONS, A.method_dispatch(A.list_permissions), _TYPE)
    for scope in (_SUB, _GROUP, _RESOURCE, _TOP_LEVEL, _CHILD)
]

_ASSIGNMENT = "/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}"
ROUTES += [
    Route(method, scope + _ASSIGNMENT, A.method_dispatch(handler), "Microsoft.Authorization/roleAssignments")
    for scope in (_SUB, _GROUP, _RESOURCE)
    for method, handler in (("PUT", A.create_role_assignment), ("GET", A.get_role_assignment),
                            ("DELETE", A.delete_role_assignment))
]
