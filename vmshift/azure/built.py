"""What a step has built in Azure so far, named when Azure refuses the rest: a failure after some resources exist
says which, and how to go on or clean up, so that nothing is left that nobody was told of."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from azure.core.exceptions import HttpResponseError

from vmshift.azure.errors import BuildIncomplete

# How each kind of step is cleaned up, as its error says it.
TEST_CLEAN_UP = "the VM's test migration clean-up"
ROLLBACK_WITH_DISKS = "a rollback of the VM with its disks"
ENDPOINT_CLEAN_UP = "delete the private endpoint: its network interface goes with it"
PRIVATE_DNS_CLEAN_UP = (f"{ENDPOINT_CLEAN_UP}; the zone and its link only if no other account's endpoint resolves "
                        "through them")
# What running the step again does with what exists.
REUSED = "run the step again (it reuses or replaces what exists)"


@contextmanager
def naming_what_exists(what: str, built: Sequence[str], clean_up: str, again: str = REUSED) -> Iterator[None]:
    """A refusal Azure will repeat (a 4xx other than throttling: a missing permission, a bad setting) inside the
    block is raised as BuildIncomplete naming `built` as it stands then (resource IDs, which the caller adds to as
    it builds) and what to do; a part's own BuildIncomplete inside has what it built named after these. Throttling
    and server errors go through as they are, for the caller's retry."""
    try:
        yield
    except BuildIncomplete as part:
        exists = tuple(dict.fromkeys((*built, *part.built)))
        raise BuildIncomplete(what, exists, part.error, clean_up, again) from part.error
    except HttpResponseError as error:
        if error.status_code is None or error.status_code >= 500 or error.status_code in (408, 429):
            raise
        raise BuildIncomplete(what, tuple(built), error, clean_up, again) from error
