"""What the cutover gates read from Prefect: each VM's last test migration, cutover and rollback."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow, task

import tasks.cutover
from tasks.cutover import CUTOVER_RUN, ROLLBACK_RUN, _completed_runs
from tasks.test_migration import TEST_MIGRATION_RUN

pytestmark = pytest.mark.usefixtures("prefect_harness")


@task(task_run_name="{name}")
def recorded(name: str) -> None:
    """A completed task run named as the steps name theirs."""


@flow
def history(names: list[str]) -> None:
    for name in names:
        recorded(name)


def test_every_vms_record_is_read_however_many_pages_they_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.cutover, "RUNS_PAGE", 2)
    vms = {f"rec-{i}" for i in range(5)}
    history([TEST_MIGRATION_RUN + vm for vm in sorted(vms)] + [CUTOVER_RUN + "rec-0", ROLLBACK_RUN + "rec-1"])
    ended = asyncio.run(_completed_runs((TEST_MIGRATION_RUN, CUTOVER_RUN, ROLLBACK_RUN), vms))
    assert (set(ended[TEST_MIGRATION_RUN]), set(ended[CUTOVER_RUN]), set(ended[ROLLBACK_RUN])) == (
        vms, {"rec-0"}, {"rec-1"})
