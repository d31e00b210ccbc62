"""The one place that decides what is transient, and the retry settings every task shares.

Retried: ARM throttling and server errors (429, 5xx) once azure-core's own retry policy has given up,
connection resets and timeouts, vCenter's TaskInProgress (another task holds the VM for a moment).
Never retried: validation errors, authentication, TLS verification, any other 4xx, our own step errors:
doing the same thing again cannot fix them, and retrying only hides the message from the engineer.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from prefect.tasks import exponential_backoff
from pyVmomi import vim

from vmshift.azure.errors import AzureStepError

TRANSIENT_HTTP_STATUS = frozenset({429, 500, 502, 503, 504})
_PERMANENT = (
    ValueError,
    TypeError,
    KeyError,
    AzureStepError,
    ClientAuthenticationError,
    ssl.SSLError,
    requests.exceptions.SSLError,
)
_TRANSIENT = (
    ConnectionError,
    TimeoutError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ServiceRequestError,
    ServiceResponseError,
    vim.fault.TaskInProgress,
)


def is_transient(error: BaseException) -> bool:
    """True when trying again later may succeed; follows `raise ... from` so wrapped faults are seen."""
    for link in _causes(error):
        if isinstance(link, _PERMANENT):
            return False
        if isinstance(link, HttpResponseError) and link.status_code is not None:
            return link.status_code in TRANSIENT_HTTP_STATUS
        if isinstance(link, _TRANSIENT):
            return True
    return False


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: retry a failed task run only when its exception is transient."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


# Backoff 2, 4, 8, 16 s with ±50 % jitter so that VMs throttled together do not come back together.
TRANSIENT_RETRY: dict[str, Any] = {
    "retries": 4,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_on_transient,
}


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        inner = getattr(link, "inner_exception", None)  # azure-core keeps the transport's error here
        link = link.__cause__ or (inner if isinstance(inner, BaseException) else None)
