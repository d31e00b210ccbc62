"""The role the lab's vCenter user holds, as a vCenter administrator would change it: to show what vmshift does
without a privilege, or to do as an administrator what vmshift may not (grow a disk). Through the lab vCenter's
/vmshift-lab/role endpoint; the spec's role comes back when the lab restarts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import requests

# vCenter puts these in every role; the lab's GET /vmshift-lab/role lists them with the role's own.
SYSTEM_PRIVILEGES = frozenset({"System.Anonymous", "System.Read", "System.View"})


class RoleChangeRefused(RuntimeError):
    """The lab vCenter refused the role (a privilege it does not know, a system role that does not exist)."""


def vcenter_role(lab: dict) -> dict:
    """`{"user", "name", "privileges"}`: the role the lab user holds now, system privileges included."""
    return _role_request(lab, "GET")


def set_vcenter_role(lab: dict, name: str, privileges: list[str] | None = None) -> dict:
    """Give the lab user the role `name` with these privileges, or vCenter's system role `name` (Admin,
    ReadOnly) when privileges is None. Returns the role as vcenter_role does."""
    body: dict = {"name": name} if privileges is None else {"name": name, "privileges": privileges}
    return _role_request(lab, "PUT", body)


@contextmanager
def role_held(lab: dict, name: str, privileges: list[str] | None = None) -> Iterator[dict]:
    """The lab user holds this role inside the block, and its role from before after it."""
    before = vcenter_role(lab)
    try:
        yield set_vcenter_role(lab, name, privileges)
    finally:
        set_vcenter_role(lab, before["name"], [p for p in before["privileges"] if p not in SYSTEM_PRIVILEGES])


def _role_request(lab: dict, method: str, body: dict | None = None) -> dict:
    vcenter = lab["vcenter"]
    url = urlparse(vcenter["url"])
    response = requests.request(method, f"{url.scheme}://{url.netloc}/vmshift-lab/role", json=body,
                                auth=(vcenter["user"], vcenter["password"]), verify=lab["ca_file"], timeout=30)
    if response.status_code != 200:
        raise RoleChangeRefused(f"lab vCenter refused the role {body} ({response.status_code}): {response.text}")
    return response.json()
