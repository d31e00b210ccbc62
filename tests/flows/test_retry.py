"""Which failures a task retries: transient ones only, never a validation error."""

from __future__ import annotations

import ssl

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceResponseError
from pyVmomi import vim

from tasks.retry import is_transient
from vmshift.azure.errors import BuildInputInvalid, DnsGateFailed


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "lab"
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self) -> str:
        return ""


def arm_error(status: int) -> HttpResponseError:
    return HttpResponseError(message=f"ARM answered {status}", response=_Response(status))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_arm_throttling_and_server_errors_are_retried(status: int) -> None:
    assert is_transient(arm_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_arm_client_errors_are_not_retried(status: int) -> None:
    assert not is_transient(arm_error(status))


def test_connection_resets_are_retried() -> None:
    assert is_transient(ConnectionResetError(104, "Connection reset by peer"))
    assert is_transient(requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected())"))
    assert is_transient(ServiceResponseError("Connection aborted."))


def test_vcenter_task_in_progress_is_retried() -> None:
    assert is_transient(vim.fault.TaskInProgress(msg="The operation is not allowed in the current state."))


def raised_from(error: Exception, cause: Exception) -> Exception:
    """`error` as `raise error from cause` leaves it."""
    try:
        raise error from cause
    except Exception as raised:
        return raised


def test_a_wrapped_transient_fault_is_seen_through_its_wrapper() -> None:
    assert is_transient(raised_from(RuntimeError("upload of disk 2000 stopped"), ConnectionResetError(104, "reset")))


def test_validation_errors_are_never_retried() -> None:
    assert not is_transient(ValueError("row 3, column REGION: 'westeuropa' is not a region"))
    assert not is_transient(BuildInputInvalid("app-linux-01", "vm_size", "Standard_Q99 is not offered"))
    assert not is_transient(DnsGateFailed("public", "blob FQDN resolves to a public address"))


def test_a_validation_error_raised_from_a_reset_is_still_not_retried() -> None:
    assert not is_transient(raised_from(ValueError("the answer does not parse"), ConnectionResetError(104, "reset")))


def test_authentication_and_tls_failures_are_not_retried() -> None:
    assert not is_transient(ClientAuthenticationError("AADSTS7000215: invalid client secret"))
    assert not is_transient(requests.exceptions.SSLError("certificate verify failed"))
    assert not is_transient(ssl.SSLCertVerificationError("certificate verify failed"))


def test_unknown_errors_are_not_retried() -> None:
    assert not is_transient(RuntimeError("something unexpected"))
