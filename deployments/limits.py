"""Creates the global concurrency limits of vmshift/limits.py on the Prefect server.

They must exist before a flow takes a slot (taken with strict=True, an unknown name is an error rather than
no limit). The setup command calls `ensure_limits(planned_limits(..., overrides), update=True)`; the wave
flow calls `ensure_limits(..., update=False)` for the names it is about to take, so that it never resets a
limit someone tuned in the UI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound


async def ensure_limits(limits: Mapping[str, int], *, update: bool) -> dict[str, int]:
    """Create each missing limit; with `update`, resize existing ones too. Returns the sizes in force."""
    in_force: dict[str, int] = {}
    async with get_client() as client:
        for name, size in limits.items():
            try:
                existing = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):  # another wave created it a moment ago
                    await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=size))
                in_force[name] = size
                continue
            if update and existing.limit != size:
                await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=size))
                in_force[name] = size
            else:
                in_force[name] = existing.limit
    return in_force

