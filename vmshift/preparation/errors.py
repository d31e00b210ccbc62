"""Why a VM's preparation stopped: each stops that VM's test migration or cutover before the source is touched."""

from __future__ import annotations


class PreparationFailed(RuntimeError):
    """The VM's OS disk could not be prepared for Azure; the message says which VM, disk and what to do."""


class UnrecognisedOs(PreparationFailed):
    """Inspection found no operating system vmshift knows how to prepare on the disk."""


class RuleFailed(PreparationFailed):
    """A preparation rule could not do its change (a tool in the guest failed, a file it needs is missing)."""


class ToolMissing(PreparationFailed):
    """The appliance lacks nbdkit or libguestfs (the Debian packages `make setup` installs)."""
