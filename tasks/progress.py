"""A progress artifact kept up to date while a long step runs in a thread: what a person watches in the UI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from tasks.slots import serially

PROGRESS_EVERY_S = 5.0  # one small write per step and period, not one per piece read


@contextlib.asynccontextmanager
async def progress_artifact(key: str, description: str) -> AsyncIterator[Callable[[float], None]]:
    """Yields the callback the step's thread reports its percent done to; the artifact shows the latest one every
    PROGRESS_EVERY_S, 100 once the step returns, and the last one reported when it raises (a verification that
    found a difference read to its end: 100 as well)."""
    artifact = await serially(acreate_progress_artifact(0.0, key=key, description=description))
    latest = [0.0]

    async def publish() -> None:
        shown = 0.0
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            if latest[0] > shown:
                shown = latest[0]
                await serially(aupdate_progress_artifact(artifact, shown))

    publisher = asyncio.create_task(publish())
    try:
        yield lambda percent: latest.__setitem__(0, percent)
    except Exception:
        publisher.cancel()
        with contextlib.suppress(Exception):  # the step's own error is the one to see
            await serially(aupdate_progress_artifact(artifact, latest[0]))
        raise
    finally:
        publisher.cancel()
    await serially(aupdate_progress_artifact(artifact, 100.0))
