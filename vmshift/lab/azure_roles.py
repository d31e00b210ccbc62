"""The Azure roles vmshift's app holds in the lab, as an administrator assigns them: to show what vmshift does
without an action, or with a built-in role instead of the documented ones. Through the ARM simulator's
/_lab/role-assignments endpoint; scopes are relative to the lab's subscription ("", "resourceGroups/rg-hub")
or whole IDs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import requests


class RoleAssignmentRefused(RuntimeError):
    """The lab refused the assignments (a role it does not know, a body it cannot read)."""


def azure_role_assignments(lab: dict) -> list[dict]:
    """`[{"role", "scope"}]`: what vmshift's app holds now, scopes as whole IDs."""
    return _request(lab, "GET")["assignments"]


def set_azure_role_assignments(lab: dict, assignments: Iterable[Mapping[str, str]],
                               roles: Iterable[dict] = ()) -> list[dict]:
    """vmshift's app holds exactly these assignments from now on; `roles` are custom roles in az's JSON (Name,
    Actions, NotActions...) created or updated first."""
    return _request(lab, "PUT", {"roles": list(roles), "assignments": [dict(a) for a in assignments]})["assignments"]


@contextmanager
def azure_roles_held(lab: dict, assignments: Iterable[Mapping[str, str]], roles: Iterable[dict] = ()) -> Iterator[None]:
    """vmshift's app holds these assignments inside the block, and what it held before after it."""
    before = azure_role_assignments(lab)
    set_azure_role_assignments(lab, assignments, roles)
    try:
        yield
    finally:
        set_azure_role_assignments(lab, before)


def _request(lab: dict, method: str, body: dict | None = None) -> dict:
    response = requests.request(method, f"{lab['arm']['endpoint']}/_lab/role-assignments", json=body,
                                verify=lab["ca_file"], timeout=30)
    if response.status_code != 200:
        raise RoleAssignmentRefused(f"the lab's ARM refused the role assignments ({response.status_code}): "
                                    f"{response.text}")
    return response.json()
