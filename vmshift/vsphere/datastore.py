"""Reading a disk through vCenter's datastore file access (GET /folder with Range), one HTTP session."""

from __future__ import annotations

import re
from urllib.parse import quote

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import DatastoreReadError
from vmshift.vsphere.privileges import ROLE_FILE, ROLE_NAME

# Connect, then between bytes: a vCenter that stops answering fails the read (a transient error, retried by the
# cycle's caller) instead of holding the cycle, its snapshot and its concurrency slot for ever.
READ_TIMEOUT_S = (30.0, 300.0)
_DATASTORE_PATH = re.compile(r"^\[(?P<datastore>[^\]]+)\]\s*(?P<path>.+\.vmdk)$")


def flat_extent_path(datastore_path: str) -> tuple[str, str]:
    """`[ds] folder/disk.vmdk` -> (`ds`, `folder/disk-flat.vmdk`): the descriptor names the flat extent that
    holds the data of a flat (non-sparse) base disk, which is what a snapshot freezes."""
    match = _DATASTORE_PATH.match(datastore_path.strip())
    if not match:
        raise DatastoreReadError(f"not a datastore path of a disk: {datastore_path!r} (want '[ds] folder/disk.vmdk')")
    path = match["path"]
    return match["datastore"], path[: -len(".vmdk")] + "-flat.vmdk"


class DatastoreDiskReader:
    """A disk's flat extent read by range; fits vmshift.replication.reader.DiskReader."""

    def __init__(self, session: VSphereSession, datastore_path: str, capacity_bytes: int,
                 timeout_s: tuple[float, float] = READ_TIMEOUT_S) -> None:
        self.datastore_path = datastore_path
        self.size = capacity_bytes
        self._timeout_s = timeout_s
        self._http = session.http
        datastore, path = flat_extent_path(datastore_path)
        self._url = f"{session.base_url}/folder/{quote(path)}"
        self._params = {"dcPath": session.datacenter.name, "dsName": datastore}

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise DatastoreReadError(f"read of {length} bytes at {offset} is outside {self.datastore_path} "
                                     f"({self.size} bytes)")
        if length == 0:
            return b""
        # verify is passed again: requests lets REQUESTS_CA_BUNDLE override a session's verify setting.
        response = self._http.get(self._url, params=self._params, verify=self._http.verify, timeout=self._timeout_s,
                                  headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        if response.status_code == 401:
            raise DatastoreReadError(f"vCenter refused datastore access to {self.datastore_path}: session expired?")
        if response.status_code == 403:
            # vCenter's answer names the privilege it wanted; HTTP access needs those of the datastore browser.
            raise DatastoreReadError(
                f"vCenter refused datastore access to {self.datastore_path} (403 {response.text.strip()[:300]}): "
                f"the user lacks Datastore.Browse or Datastore.FileManagement on the datastore; the vCenter role "
                f"'{ROLE_NAME}' ({ROLE_FILE}) grants both"
            )
        if response.status_code != 206:
            raise DatastoreReadError(f"ranged read of {self.datastore_path} at {offset} answered "
                                     f"{response.status_code} {response.reason}, not 206")
        data = response.content
        if len(data) != length:
            raise DatastoreReadError(f"short read of {self.datastore_path} at {offset}: {len(data)} of {length} bytes")
        return data


def open_disk(session: VSphereSession, datastore_path: str, capacity_bytes: int) -> DatastoreDiskReader:
    """A reader of the disk at `[ds] folder/disk.vmdk` (for replication: the path a snapshot froze)."""
    return DatastoreDiskReader(session, datastore_path, capacity_bytes)
