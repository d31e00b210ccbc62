"""ARM over plain HTTPS with the lab's token, for what the SDK hides: status lines, headers, operation URLs."""

from __future__ import annotations

import requests
from arm_clients import ARM_SCOPE, Arm


def arm_get(arm: Arm, url: str) -> requests.Response:
    """GET an absolute ARM URL (or a path under the endpoint) as a client without the SDK's policies."""
    if url.startswith("/"):
        url = f"{arm.lab['arm']['endpoint'].rstrip('/')}{url}"
    token = arm.credential.get_token(ARM_SCOPE).token
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=arm.lab["ca_file"], timeout=10)
