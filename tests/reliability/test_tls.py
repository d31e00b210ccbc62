"""Every client verifies certificates: a server whose certificate comes from another CA is refused."""

from __future__ import annotations

import http.server
import logging
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceRequestError

from vmshift.azure.clients import AzureClients, AzureConfig
from vmshift.lab.ca import create_foreign_certificate
from vmshift.replication.storage import blob_service_client
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.errors import VSphereError


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate is valid for 127.0.0.1 but signed by another CA."""
    certs = create_foreign_certificate(tmp_path_factory.mktemp("foreign"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_vcenter_with_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str) -> None:
    config = VCenterConfig(url=f"{impostor}/sdk", user="administrator@vsphere.local", password="not-sent",
                           datacenter="DC-Lab", ca_file=lab["ca_file"])
    with pytest.raises(VSphereError, match=r"(?i)certificate"):
        connect(config)


def test_blob_storage_with_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str, monkeypatch) -> None:
    monkeypatch.setenv("VMSHIFT_BLOB_ENDPOINT", f"{impostor}/{{account}}")
    client = blob_service_client("vmshiftcache01")
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        # One attempt: azure-core retries a failed connection ten times with backoff, as it should for a
        # network fault, and a certificate that does not verify fails the same way every time.
        client.get_container_client("vmshift-state").exists(retry_total=0)


def test_resource_manager_with_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str) -> None:
    class _Token:
        def get_token(self, *scopes: str, **kwargs: object):
            from azure.core.credentials import AccessToken

            return AccessToken("not-a-real-token", 2**31)

    config = AzureConfig(subscription_id=lab["arm"]["subscription_id"], arm_endpoint=impostor,
                         ca_file=lab["ca_file"])
    clients = AzureClients(config, _Token())
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        list(clients.network.virtual_networks.list_all(retry_total=0))


def test_the_lab_servers_themselves_are_trusted_through_the_lab_ca(lab: dict) -> None:
    config = VCenterConfig(url=lab["vcenter"]["url"], user=lab["vcenter"]["user"],
                           password=lab["vcenter"]["password"], datacenter=lab["vcenter"]["datacenter"],
                           ca_file=lab["ca_file"])
    with connect(config) as session:
        assert session.content.about.apiType == "VirtualCenter"
    assert blob_service_client("vmshiftcache01").get_account_information()["sku_name"]


def test_turning_verification_off_takes_an_explicit_setting_and_logs_a_warning(lab: dict, impostor: str,
                                                                               caplog) -> None:
    config = VCenterConfig(url=f"{impostor}/sdk", user="u", password="p", datacenter="DC-Lab", verify_tls=False)
    assert VCenterConfig(url="https://x/sdk", user="u", password="p", datacenter="d").verify_tls is True
    with caplog.at_level(logging.WARNING), pytest.raises(VSphereError):
        connect(config)  # the impostor is no vCenter: the login fails after the unverified handshake
    assert any("TLS verification" in r.getMessage() and "OFF" in r.getMessage() for r in caplog.records)


def test_ca_file_path_exists(lab: dict) -> None:
    assert Path(lab["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
