"""Datastore file access: ranged reads with the session's cookie, refused without credentials."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import requests

from vmshift.lab.guest import write_guest
from vmshift.vsphere.connection import connect
from vmshift.vsphere.datastore import DatastoreDiskReader, flat_extent_path, open_disk
from vmshift.vsphere.errors import DatastoreReadError

VM = "vsphere-lib-01"
FLAT = "/folder/vsphere-lib-01/vsphere-lib-01-flat.vmdk"


def folder_url(lab: dict) -> str:
    return lab["vcenter"]["url"].removesuffix("/sdk") + FLAT


def test_a_ranged_read_returns_206_and_exactly_the_bytes_written(session, lab):
    write_guest(lab, VM, 123_456, b"migrate me")
    reader = open_disk(session, "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk", 40 << 20)

    assert reader.read(123_450, 20) == b"\0" * 6 + b"migrate me" + b"\0" * 4


def test_ranged_reads_go_over_one_connection_of_the_session(config):
    with connect(config) as session:
        reader = open_disk(session, "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk", 40 << 20)
        for offset in range(0, 10 * 4096, 4096):
            reader.read(offset, 4096)
        pools = session.http.get_adapter(reader._url).poolmanager.pools
        # urllib3's pool container refuses plain iteration.
        used = [(pools[key].num_connections, pools[key].num_requests) for key in pools.keys()]  # noqa: SIM118

        assert used == [(1, 10)]


def test_folder_access_without_session_or_credentials_is_refused(lab):
    params = {"dcPath": lab["vcenter"]["datacenter"], "dsName": "ds-nfs-02"}

    anonymous = requests.get(folder_url(lab), params=params, headers={"Range": "bytes=0-9"}, verify=lab["ca_file"])
    forged = requests.get(folder_url(lab), params=params, verify=lab["ca_file"],
                          headers={"Range": "bytes=0-9", "Cookie": "vmware_soap_session=made-up"})
    with_credentials = requests.get(folder_url(lab), params=params, headers={"Range": "bytes=0-9"},
                                    auth=(lab["vcenter"]["user"], lab["vcenter"]["password"]), verify=lab["ca_file"])

    assert (anonymous.status_code, forged.status_code, with_credentials.status_code) == (401, 401, 206)


def test_a_logged_out_session_can_no_longer_read(config):
    session = connect(config)
    reader = open_disk(session, "[ds-nfs-02] vsphere-lib-01/vsphere-lib-01.vmdk", 40 << 20)
    reader.read(0, 512)
    session.close()
    reader._http = requests.Session()  # a fresh client carrying the old cookie, as a leaked one would
    reader._http.headers["Cookie"] = session.http.headers["Cookie"]
    reader._http.verify = config.ca_file

    with pytest.raises(DatastoreReadError, match="refused"):
        reader.read(0, 512)


def test_a_datastore_path_maps_to_its_flat_extent():
    assert flat_extent_path("[ds-ssd-01] win-sql-01/win-sql-01_1.vmdk") == (
        "ds-ssd-01", "win-sql-01/win-sql-01_1-flat.vmdk")
    with pytest.raises(DatastoreReadError, match="not a datastore path"):
        flat_extent_path("win-sql-01.vmdk")


def test_a_vcenter_that_stops_answering_fails_the_read_instead_of_holding_it():
    with socket.create_server(("127.0.0.1", 0)) as stalled:  # accepts (the kernel's backlog) and never answers
        host, port = stalled.getsockname()
        session = SimpleNamespace(http=requests.Session(), base_url=f"http://{host}:{port}",
                                  datacenter=SimpleNamespace(name="dc-lab"))
        reader = DatastoreDiskReader(session, "[ds-ssd-01] vm/vm.vmdk", 1 << 20, timeout_s=(1.0, 1.0))

        with pytest.raises(requests.exceptions.Timeout):
            reader.read(0, 512)
