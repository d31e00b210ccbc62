"""The HTTPS application: the lab tenant's identity endpoints, ARM's providers, and the lab's admin paths."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from vmshift.lab.arm import identity, lro
from vmshift.lab.arm.compute import responses as compute_responses
from vmshift.lab.arm.compute.urls import ROUTES as COMPUTE_ROUTES
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.faults import FaultPlan, Faults
from vmshift.lab.arm.network.urls import ROUTES as NETWORK_ROUTES
from vmshift.lab.arm.privatedns.urls import ROUTES as PRIVATEDNS_ROUTES
from vmshift.lab.arm.resources.urls import ROUTES as RESOURCES_ROUTES
from vmshift.lab.arm.routing import ArmRequest, ArmResponse, Route, Router
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import StorageBackend
from vmshift.lab.arm.storage.urls import ROUTES as STORAGE_ROUTES

log = logging.getLogger(__name__)

ALL_ROUTES: list[Route] = [
    *RESOURCES_ROUTES, *NETWORK_ROUTES, *PRIVATEDNS_ROUTES, *STORAGE_ROUTES, *COMPUTE_ROUTES,
    *lro.operation_routes("Microsoft.Network"), *lro.operation_routes("Microsoft.Compute"),
    *lro.operation_routes("Microsoft.Storage"), *lro.operation_routes("Microsoft.Resources"),
]


def _resource_type(template: str) -> str:
    """'Microsoft.Network/virtualNetworks/subnets' from a route template, for ARM's messages."""
    _, _, tail = template.rpartition("/providers/")
    if not tail:
        return "resourceGroups"
    parts = tail.split("/")
    return "/".join([parts[0], *parts[1::2]])


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
        status, body = identity.issue_token(settings, request.path_params["tenant"], form)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

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

    async def disk_download(request: Request) -> Response:
        try:
            return compute_responses.read_disk_access(simulator, request.path_params["grant"],
                                                      request.query_params.get("sig", ""), request)
        except ArmError as error:
            return _error_response(error)

    async def arm(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        path = request.url.path
        try:
            identity.check_bearer(settings, request.headers.get("authorization"))
            route, params = router.match(request.method, path)
            faults.check(request.method, path)
            api_version = request.query_params.get("api-version")
            router.check_api_version(route, api_version, _resource_type(route.template))
            arm_request = ArmRequest(
                method=request.method, path=path, params=params, query=dict(request.query_params),
                raw_body=await request.body(), base_url=base_url(request), api_version=api_version,
                simulator=simulator,
            )
            result: ArmResponse = route.handler(arm_request)
        except ArmError as error:
            log.info("%s %s -> %s %s", request.method, path, error.status, error.code)
            response = _error_response(error)
            response.headers["x-ms-request-id"] = request_id
            return response
        log.info("%s %s -> %s", request.method, path, result.status)
        headers = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id, **result.headers}
        if result.body is None:
            return Response(status_code=result.status, headers=headers)
        return Response(json.dumps(result.body), status_code=result.status, headers=headers,
                        media_type=result.content_type)

    methods = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"]
    return Starlette(routes=[
        HttpRoute("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        HttpRoute("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        HttpRoute("/_lab/faults", lab_faults, methods=["GET", "POST"]),
        HttpRoute("/_lab/approvals", lab_approvals, methods=["POST"]),
        HttpRoute("/_lab/disks/{grant}", disk_download, methods=["GET", "HEAD"]),
        HttpRoute("/{path:path}", arm, methods=methods),
    ])


