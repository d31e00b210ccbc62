"""The one TLS trust setting every client of vmshift shares: vCenter's, ARM's, the token authority's, blob storage's."""

from __future__ import annotations

import os

CA_FILE_ENV = "VMSHIFT_CA_FILE"


def ca_file() -> str | None:
    """The CA bundle every client trusts in place of the system store (`VMSHIFT_CA_FILE`), or None for the store.

    A private endpoint behind a TLS-inspecting proxy, a vCenter with its own CA, or the lab: put the public roots
    in the bundle too when the estate needs both.
    """
    return os.environ.get(CA_FILE_ENV) or None
