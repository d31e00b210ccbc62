"""The steps of a migration, as the permission tables of vCenter and Azure (docs/permissions.md) name them."""

from __future__ import annotations

from enum import StrEnum


class MigrationStep(StrEnum):
    """What vmshift is doing, and so which privileges and actions it needs at that moment."""

    DISCOVERY = "discovery"  # inventory, `vmshift plan validate` online, readiness
    REPLICATION = "replication"  # a wave's private endpoint and DNS, initial and delta cycles
    TEST_MIGRATION = "test-migration"  # test-migrate and its clean-up
    CUTOVER = "cutover"  # shutdown, final delta, build, verification
    ROLLBACK = "rollback"  # the target VM deleted, the source powered on
    COMPLETION = "completion"  # snapshots and CBT cleaned on the source after a good cutover
