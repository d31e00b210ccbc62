"""The HTTPS application: the lab tenant's identity endpoints, ARM's providers, and the lab's admin paths."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from vmshift.lab.arm import api_versions, identity, lro, metadata
from vmshift.lab.arm.authorization.guard import authorize
from vmshift.lab.arm.authorization.models import AuthorizationBackend, absolute_scope
from vmshift.lab.arm.authorization.urls import ROUTES as AUTHORIZATION_ROUTES
from vmshift.lab.arm.compute import responses as compute_responses
from vmshift.lab.arm.compute.urls import ROUTES as COMPUTE_ROUTES
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.faults import FaultPlan, Faults
from vmshift.lab.arm.network.urls import ROUTES as NETWORK_ROUTES
from vmshift.lab.arm.privatedns.urls import ROUTES as PRIVATEDNS_ROUTES
from vmshift.lab.arm.resources.urls import ROUTES as RESOURCES_ROUTES
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, Route, Router, check_api_version
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.sqlvirtualmachine.urls import ROUTES as SQLVIRTUALMACHINE_ROUTES
from vmshift.lab.arm.storage.models import StorageBackend
from vmshift.lab.arm.storage.urls import ROUTES as STORAGE_ROUTES

log = logging.getLogger(__name__)

ALL_ROUTES: list[Route] = [
    *RESOURCES_ROUTES, *AUTHORIZATION_ROUTES, *NETWORK_ROUTES, *PRIVATEDNS_ROUTES, *STORAGE_ROUTES, *COMPUTE_ROUTES,
    *SQLVIRTUALMACHINE_ROUTES,
    *lro.operation_routes("Microsoft.Network"), *lro.operation_routes("Microsoft.Compute"),
    *lro.operation_routes("Microsoft.Storage"), *lro.operation_routes("Microsoft.Resources"),
    *lro.operation_routes("Microsoft.SqlVirtualMachine"),
]


def _request_location(simulator: Simulator, resource_type: str, params: dict[str, str], body: bytes) -> str:
    """The region ARM would route a request to, which its NoRegisteredProviderFound names: the body's location
    on a PUT, else the resource group's, else the one in the path; private DNS zones are global."""
    if resource_type.startswith("Microsoft.Network/privateDnsZones"):
        return "global"
    try:
        location = json.loads(body).get("location") if body else None
    except (ValueError, AttributeError):
        location = None
    if isinstance(location, str) and location:
        return location.replace(" ", "").lower()
    if "resourceGroupName" in params:
        group = simulator.store.get(f"/subscriptions/{params.get('subscriptionId', '')}/resourceGroups/"
                                    f"{params['resourceGroupName']}")
        if group is not None:
            return group["location"]
    return params.get("location", "global")


def _error_response(error: ArmError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def build_app(simulator: Simulator, faults: Faults) -> Starlette:
    router = Router(ALL_ROUTES)
    settings = simulator.settings

    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def openid_configuration(request: Request) -> Response:
        status, body = identity.openid_configuration(settings, base_url(request), request.path_params["tenant"])
        return JSONResponse(body, status_code=status)

    async def token(request: Request) -> Response:
        # MSAL posts application/x-www-form-urlencoded; parsed here to need no multipart library.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        status, body = identity.issue_token(settings, request.path_params["tenant"], form, base_url(request))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def metadata_endpoints(request: Request) -> Response:
        """The lab as a cloud, before any token: `az cloud register` and Ansible read their endpoints here."""
        try:
            body = metadata.endpoints(settings, base_url(request), request.query_params.get("api-version"))
        except ArmError as error:
            return _error_response(error)
        return JSONResponse(body)

    async def lab_faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                faults.set(FaultPlan.model_validate_json(await request.body()))
            except (ValidationError, ValueError) as exc:
                return JSONResponse({"error": {"code": "InvalidFaultPlan", "message": str(exc)}}, status_code=400)
        return JSONResponse(faults.describe())

    async def lab_approvals(request: Request) -> Response:
        """Take or give back the lab app's right to approve private endpoints on one account."""
        try:
            body = json.loads(await request.body())
            StorageBackend(simulator).set_caller_may_approve(str(body["account"]), bool(body["caller_may_approve"]))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": {"code": "InvalidApproval", "message":
                                 f"expected {{'account': name, 'caller_may_approve': bool}}: {exc}"}}, status_code=400)
        return JSONResponse(body)

    async def lab_role_assignments(request: Request) -> Response:
        """The roles vmshift's app holds, as an administrator assigns them: PUT {"roles": [custom roles in
        az's JSON], "assignments": [{"role", "scope"}]} replaces them (scopes relative to the subscription)."""
        rbac = AuthorizationBackend(simulator)
        principal = identity.object_id(settings.client_id)
        if request.method == "PUT":
            try:
                body = json.loads(await request.body())
                for role in body.get("roles", []):
                    rbac.create_or_update_role_definition(role)
                subscription = settings.subscription_id
                rbac.set_assignments(principal, [(a["role"], absolute_scope(subscription, a.get("scope", "")))
                                                 for a in body["assignments"]])
            except ArmError as error:
                return _error_response(error)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": {"code": "InvalidRoleAssignments", "message":
                                     f"expected {{'roles': [...], 'assignments': [{{'role', 'scope'}}]}}: {exc}"}},
                                    status_code=400)
        return JSONResponse({"principal_id": principal, "assignments": [
            {"role": a["roleName"], "scope": a["scope"]} for a in rbac.assignments(principal)]})

    async def disk_access(request: Request) -> Response:
        grant, signature = request.path_params["grant"], request.query_params.get("sig", "")
        try:
            if request.method == "PUT":
                body = await request.body()
                return await run_in_threadpool(compute_responses.write_disk_access, simulator, grant, signature,
                                               request, body)
            return compute_responses.read_disk_access(simulator, grant, signature, request)
        except ArmError as error:
            return _error_response(error)

    async def arm(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        path = request.url.path
        api_version = request.query_params.get("api-version")
        # With the api-version, so the log tells which versions each client sends.
        logged = f"{path}?api-version={api_version}" if api_version else path
        try:
            caller = identity.check_bearer(settings, request.headers.get("authorization"), base_url(request))
            route, params = router.match(request.method, path)
            faults.check(request.method, path)
            raw_body = await request.body()
            resource_type = route.type_of(params)
            check_api_version(resource_type, api_version,
                              _request_location(simulator, resource_type, params, raw_body),
                              ["global"] if resource_type.startswith("Microsoft.Network/privateDnsZones")
                              else settings.regions)
            visible = authorize(simulator, caller, route, path, raw_body)
            arm_request = ArmRequest(
                method=request.method, path=path, params=params, query=dict(request.query_params),
                raw_body=raw_body, base_url=base_url(request), api_version=api_version, simulator=simulator,
                caller=caller,
            )
            result: ArmResponse = route.handler(arm_request)
            if visible is not None and isinstance(result.body, dict) and isinstance(result.body.get("value"), list):
                result.body["value"] = visible.filter(result.body["value"])
        except ArmError as error:
            log.info("%s %s -> %s %s", request.method, logged, error.status, error.code)
            response = _error_response(error)
            response.headers["x-ms-request-id"] = request_id
            return response
        log.info("%s %s -> %s", request.method, logged, result.status)
        headers = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id, **result.headers}
        if result.body is None:
            return Response(status_code=result.status, headers=headers)
        body = api_versions.shaped(resource_type, api_version, result.body)
        return Response(json.dumps(body), status_code=result.status, headers=headers, media_type=result.content_type)

    methods = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"]
    return Starlette(routes=[
        HttpRoute("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        HttpRoute("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        HttpRoute("/metadata/endpoints", metadata_endpoints, methods=["GET"]),
        HttpRoute("/_lab/faults", lab_faults, methods=["GET", "POST"]),
        HttpRoute("/_lab/approvals", lab_approvals, methods=["POST"]),
        HttpRoute("/_lab/role-assignments", lab_role_assignments, methods=["GET", "PUT"]),
        HttpRoute("/_lab/disks/{grant}", disk_access, methods=["GET", "HEAD", "PUT"]),
        HttpRoute("/{path:path}", arm, methods=methods),
    ])


