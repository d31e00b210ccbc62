"""nbdkit python plugin: a recovery point as a writable disk that never writes to it.

Reads come from the blob snapshot by HTTP Range (a read-only SAS URL, from a file only the appliance's user can
read: a URL with a SAS in nbdkit's command line would show in `ps`); writes go into an overlay file in 4 KiB
blocks, a block read from the snapshot first when a write covers part of it. On flush and close the list of
written blocks is saved beside the overlay (`<overlay>.blocks`, one bit per block), which is how vmshift knows the
changes' extents. nbdkit's embedded Python has only the standard library: so does this file.

    nbdkit --unix SOCKET --foreground python nbd_plugin.py url_file=F size=N overlay=O [ca_file=C]
"""

import builtins
import http.client
import os
import ssl
import urllib.parse

API_VERSION = 2
BLOCK = 4096
# One GET reads at most this much: libguestfs asks for up to 32 MiB at a time.
MAX_GET = 4 * 1024 * 1024
_settings = {}


def config(key, value):
    if key not in ("url_file", "size", "overlay", "ca_file"):
        raise RuntimeError(f"unknown parameter {key}")
    _settings[key] = value


def config_complete():
    for key in ("url_file", "size", "overlay"):
        if key not in _settings:
            raise RuntimeError(f"{key}= is required")


def thread_model():
    return 0  # NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS: one overlay, one writer


class _Source:
    """The snapshot's data region over one kept-alive HTTPS connection."""

    def __init__(self, url, ca_file):
        self.url = urllib.parse.urlsplit(url)
        self.target = f"{self.url.path}?{self.url.query}"
        self.context = ssl.create_default_context(cafile=ca_file) if self.url.scheme == "https" else None
        self.connection = None

    def _connect(self):
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(self.url.netloc, context=self.context, timeout=300)
        return http.client.HTTPConnection(self.url.netloc, timeout=300)

    def read(self, offset, length):
        for attempt in range(3):
            if self.connection is None:
                self.connection = self._connect()
            try:
                self.connection.request("GET", self.target, headers={
                    "Range": f"bytes={offset}-{offset + length - 1}", "x-ms-version": "2021-08-06"})
                response = self.connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.connection = None
                if attempt == 2:
                    raise
                continue
            if response.status != 206 or len(data) != length:
                raise RuntimeError(f"snapshot read {offset}+{length}: HTTP {response.status}, {len(data)} bytes")
            return data
        raise RuntimeError("unreachable")


def open(readonly):  # nbdkit's name for the callback
    with builtins.open(_settings["url_file"]) as handle:
        url = handle.read().strip()
    size = int(_settings["size"])
    overlay = os.open(_settings["overlay"], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(overlay, size)
    blocks = bytearray((size // BLOCK + 8) // 8)
    return {"source": _Source(url, _settings.get("ca_file")), "size": size, "overlay": overlay, "blocks": blocks}


def get_size(h):
    return h["size"]


def can_write(h):
    return True


def can_flush(h):
    return True


def can_trim(h):
    return False


def can_zero(h):
    return True


def _written(h, block):
    return h["blocks"][block >> 3] & (1 << (block & 7))


def _mark(h, block):
    h["blocks"][block >> 3] |= 1 << (block & 7)


def _read_source(h, offset, length):
    chunks = []
    for start in range(offset, offset + length, MAX_GET):
        chunks.append(h["source"].read(start, min(MAX_GET, offset + length - start)))
    return b"".join(chunks)


def pread(h, buf, offset, flags):
    """Runs of blocks in the overlay come from it, runs of others from the snapshot."""
    end = offset + len(buf)
    position = offset
    while position < end:
        block = position // BLOCK
        in_overlay = _written(h, block)
        run_end = min(end, (block + 1) * BLOCK)
        while run_end < end and bool(_written(h, run_end // BLOCK)) == bool(in_overlay):
            run_end = min(end, run_end + BLOCK)
        length = run_end - position
        if in_overlay:
            data = os.pread(h["overlay"], length, position)
        else:
            data = _read_source(h, position, min(length, h["size"] - position))
        buf[position - offset : run_end - offset] = data
        position = run_end


def pwrite(h, buf, offset, flags):
    end = offset + len(buf)
    for block in range(offset // BLOCK, (end - 1) // BLOCK + 1):
        start = block * BLOCK
        if not _written(h, block) and (start < offset or start + BLOCK > end):
            base = _read_source(h, start, min(BLOCK, h["size"] - start))
            os.pwrite(h["overlay"], base, start)
        _mark(h, block)
    os.pwrite(h["overlay"], bytes(buf), offset)


def zero(h, count, offset, flags):
    pwrite(h, bytearray(count), offset, flags)


def flush(h, flags):
    os.fsync(h["overlay"])
    path = _settings["overlay"] + ".blocks"
    with builtins.open(path + ".tmp", "wb") as out:
        out.write(h["blocks"])
    os.replace(path + ".tmp", path)


def close(h):
    flush(h, 0)
    os.close(h["overlay"])
