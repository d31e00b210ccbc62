"""The lab tenant's token endpoint (client credentials, as Microsoft Entra ID answers) and token checks for ARM.

MSAL asks `<authority>/<tenant>/v2.0/.well-known/openid-configuration` first, then posts to the
token endpoint it names. Tokens are JWTs signed with the lab's key; ARM accepts only those.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.simulator import Settings

TOKEN_LIFETIME_S = 3600
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
ACCEPTED_AUDIENCES = (*(audience + "/" for audience in ARM_AUDIENCES), *ARM_AUDIENCES)  # what ARM takes
# Entra ID also issues tokens for Azure Storage; ARM refuses them (wrong audience).
TOKEN_AUDIENCES = (*ARM_AUDIENCES, "https://storage.azure.com")
_LAB_NAMESPACE = uuid.UUID("7f3c1e0a-9b1d-4c56-8a43-6d2f0c9e51b7")


@dataclass(frozen=True)
class Caller:
    """Who a token says is calling: the app (client id) and its service principal (object id)."""

    client_id: str
    object_id: str


def object_id(client_id: str) -> str:
    """An app's service principal in the lab tenant: fixed for the app and not its client id, as in Entra ID."""
    return str(uuid.uuid5(_LAB_NAMESPACE, f"servicePrincipal/{client_id.lower()}"))


def _app_secret(settings: Settings, client_id: str) -> str | None:
    """The secret of a registered app: vmshift's, or the lab's administrator app (the subscription's owner)."""
    apps = {settings.client_id.lower(): settings.client_secret}
    if settings.admin_client_id:
        apps[settings.admin_client_id.lower()] = settings.admin_client_secret
    return apps.get(client_id.lower())


def arm_audiences(lab_arm_url: str) -> tuple[str, ...]:
    """ARM's identifiers: Entra takes ARM's own URL for ARM's app (`https://management.azure.com/.default`), and
    the lab's ARM lives at its own address, which clients that build the scope from the cloud's resource
    manager endpoint (Ansible's azure.azcollection: `<resource_manager>/.default`) ask for."""
    return (*ARM_AUDIENCES, lab_arm_url.rstrip("/"))


def openid_configuration(settings: Settings, base_url: str, tenant: str) -> tuple[int, dict[str, Any]]:
    if tenant.lower() != settings.tenant_id.lower():
        return 400, _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you "
                               "have the correct tenant ID and are signing into the correct cloud.")
    root = f"{base_url}/{settings.tenant_id}"
    return 200, {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "issuer": f"{root}/v2.0",
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "EU",
    }


def _aad_error(error: str, code: int, description: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {uuid.uuid4()} "
                             f"Correlation ID: {uuid.uuid4()} Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ')}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


def issue_token(settings: Settings, tenant: str, form: dict[str, str], lab_arm_url: str) -> tuple[int, dict[str, Any]]:
    """The client-credentials grant: right tenant, known client, matching secret, an ARM (or Storage) scope."""
    if tenant.lower() != settings.tenant_id.lower():
        return 400, _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    if form.get("grant_type") != "client_credentials":
        return 400, _aad_error("unsupported_grant_type", 70003,
                               "The app requested an unsupported grant type 'client_credentials' only.")
    client_id = form.get("client_id", "")
    secret = _app_secret(settings, client_id)
    if secret is None:
        return 400, _aad_error("unauthorized_client", 700016,
                               f"Application with identifier '{client_id}' was not found in the directory "
                               f"'{settings.tenant_id}'.")
    if not hmac.compare_digest(form.get("client_secret", "").encode(), secret.encode()):
        return 401, _aad_error("invalid_client", 7000215,
                               "Invalid client secret provided. Ensure the secret being sent in the request is the "
                               f"client secret value, not the client secret ID, for a secret added to app "
                               f"'{client_id}'.")
    scope = form.get("scope", "").split()
    audiences = [s.removesuffix("/.default").rstrip("/") for s in scope if s.endswith("/.default")]
    if len(audiences) != 1 or audiences[0] not in (*TOKEN_AUDIENCES, *arm_audiences(lab_arm_url)):
        return 400, _aad_error("invalid_scope", 1002012,
                               f"The provided value for scope {' '.join(scope)} is not valid. Client credential "
                               "flows must have a scope value with /.default suffixed to the resource identifier.")
    now = int(time.time())
    claims = {
        "aud": audiences[0] + "/", "iss": f"https://sts.windows.net/{settings.tenant_id}/",
        "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME_S,
        "appid": client_id, "oid": object_id(client_id), "sub": object_id(client_id),
        "tid": settings.tenant_id, "idtyp": "app", "ver": "1.0",
    }
    token = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    return 200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S, "ext_expires_in": TOKEN_LIFETIME_S,
                 "access_token": token}


def check_bearer(settings: Settings, authorization: str | None, lab_arm_url: str) -> Caller:
    """Who calls, or ARM's 401s: no header, not a bearer token, a token we did not sign, or one that expired."""
    if not authorization:
        raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                       headers=_challenge(settings))
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ArmError(401, "AuthenticationFailed",
                       "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                       headers=_challenge(settings))
    try:
        accepted = [*ACCEPTED_AUDIENCES, *(lab_arm_url.rstrip("/") + end for end in ("", "/"))]
        claims = jwt.decode(token, settings.signing_key, algorithms=["HS256"], audience=accepted)
    except jwt.InvalidAudienceError as exc:
        allowed = "','".join(accepted)
        raise ArmError(401, "InvalidAuthenticationTokenAudience",
                       "The access token has been obtained for wrong audience or resource. It should exactly match "
                       f"with one of the allowed audiences '{allowed}'.",
                       headers=_challenge(settings)) from exc
    except jwt.ExpiredSignatureError as exc:
        raise ArmError(401, "ExpiredAuthenticationToken",
                       "The access token expiry UTC time is earlier than current UTC time.",
                       headers=_challenge(settings)) from exc
    except jwt.InvalidTokenError as exc:
        raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.",
                       headers=_challenge(settings)) from exc
    if str(claims.get("tid", "")).lower() != settings.tenant_id.lower():
        raise ArmError(401, "InvalidAuthenticationTokenTenant",
                       f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the tenant "
                       f"'https://sts.windows.net/{settings.tenant_id}/' associated with this subscription.",
                       headers=_challenge(settings))
    return Caller(str(claims.get("appid", "")), str(claims.get("oid", "")))


def _challenge(settings: Settings) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer authorization_uri="https://login.windows.net/{settings.tenant_id}", '
                                'error="invalid_token", error_description="The authentication failed"'}
