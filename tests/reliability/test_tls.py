"""Every client verifies certificates: a server whose certificate comes from another CA is refused."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from vmshift.azure.clients import AzureClients, AzureConfig
from vmshift.azure.clients import connect as azure
from vmshift.azure.credentials import azure_credential
from vmshift.azure.disks import ManagedDiskReader, delete_frozen_copy, freeze_disk
from vmshift.lab.ca import create_foreign_certificate
from vmshift.replication.storage import blob_service_client
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.datastore import DatastoreDiskReader
from vmshift.vsphere.errors import VCenterLoginFailed, VCenterUnreachable, VSphereError

ARM_SCOPE = "https://management.azure.com/.default"
GROUP = "rg-target"


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


class Relay(socketserver.ThreadingTCPServer):
    """A man in the middle on loopback: forwards TCP to `target`, and can be turned to another server; turning
    it drops the connections it holds, so that a client's next request meets the new server."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        self.target, self.held = urlparse(target).netloc, set()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def turn_to(self, target: str) -> None:
        self.target = urlparse(target).netloc
        for connection in list(self.held):
            _hang_up(connection)


class _Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        host, port = self.server.target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.server.held |= {self.request, upstream}
        pump = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
        pump.start()
        _pump(self.request, upstream)
        pump.join()
        self.server.held -= {self.request, upstream}
        upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass  # the other end hung up, or the relay was turned
    finally:
        _hang_up(source)
        _hang_up(sink)


def _hang_up(end: socket.socket) -> None:
    with contextlib.suppress(OSError):
        end.shutdown(socket.SHUT_RDWR)


def test_vcenter_with_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str) -> None:
    config = VCenterConfig(url=f"{impostor}/sdk", user="administrator@vsphere.local", password="not-sent",
                           datacenter="DC-Lab", ca_file=lab["ca_file"])
    with pytest.raises(VCenterLoginFailed, match=r"TLS verification of vCenter .* failed \(CERTIFICATE_VERIFY"):
        connect(config)


def test_vcenter_datastore_reads_from_a_certificate_of_another_ca_are_refused(lab: dict, impostor: str) -> None:
    with connect(VCenterConfig.from_env()) as session:
        # The session's HTTP side as connect() configured it, its requests sent to the impostor.
        elsewhere = dataclasses.replace(session, base_url=impostor)
        disk = DatastoreDiskReader(elsewhere, "[ds-ssd-01] any/any.vmdk", 1 << 20)
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            disk.read(0, 512)


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


def test_a_token_authority_with_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str,
                                                                        monkeypatch) -> None:
    assert azure_credential().get_token(ARM_SCOPE).token  # the lab's own authority answers
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", impostor)
    with pytest.raises(ClientAuthenticationError, match="CERTIFICATE_VERIFY_FAILED"):
        azure_credential().get_token(ARM_SCOPE)


def test_a_disk_read_link_answered_by_a_certificate_from_another_ca_is_refused(lab: dict, impostor: str) -> None:
    relay = Relay(lab["arm"]["endpoint"])
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    lab_clients = azure()
    disk = lab_clients.compute.disks.begin_create_or_update(
        GROUP, "tls-read-link", {"location": "westeurope", "sku": {"name": "Standard_LRS"},
                                 "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}).result()
    # What vmshift reads through a read link: the frozen copy of an imported disk (the post-cutover proof).
    frozen = freeze_disk(lab_clients, GROUP, disk, {})
    # ARM reached through the relay, so that the read link it grants points at the relay too.
    clients = AzureClients(dataclasses.replace(lab_clients.config, arm_endpoint=relay.url), lab_clients.credential)
    try:
        with ManagedDiskReader(clients, GROUP, frozen, snapshot=True) as copy:
            assert copy.read(0, 512) == bytes(512)
            relay.turn_to(impostor)
            try:
                with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
                    copy.read(0, 512)
            finally:
                relay.turn_to(lab["arm"]["endpoint"])
    finally:
        delete_frozen_copy(lab_clients, GROUP, frozen)
        lab_clients.compute.disks.begin_delete(GROUP, "tls-read-link").result()
        relay.shutdown()


def test_the_lab_servers_themselves_are_trusted_through_the_lab_ca(lab: dict) -> None:
    config = VCenterConfig(url=lab["vcenter"]["url"], user=lab["vcenter"]["user"],
                           password=lab["vcenter"]["password"], datacenter=lab["vcenter"]["datacenter"],
                           ca_file=lab["ca_file"])
    with connect(config) as session:
        assert session.content.about.apiType == "VirtualCenter"
    assert blob_service_client("vmshiftcache01").get_account_information()["sku_name"]


def test_verification_is_turned_off_only_by_the_explicit_setting_which_logs_a_warning(
    lab: dict, impostor: str, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("VMSHIFT_VCENTER_URL", f"{impostor}/sdk")
    assert VCenterConfig.from_env().verify_tls is True
    monkeypatch.setenv("VMSHIFT_VCENTER_VERIFY_TLS", "false")
    config = VCenterConfig.from_env()

    with caplog.at_level(logging.WARNING), pytest.raises(VSphereError) as refused:
        connect(config)

    # Past the handshake: the impostor answered, and is refused for not being a vCenter, not for its certificate.
    assert isinstance(refused.value, VCenterUnreachable), refused.value
    assert "not as a vCenter SDK endpoint" in str(refused.value)
    assert any(r.levelno == logging.WARNING and f"TLS verification of vCenter {impostor}/sdk is OFF" in r.getMessage()
               for r in caplog.records)


def test_ca_file_path_exists(lab: dict) -> None:
    assert Path(lab["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
