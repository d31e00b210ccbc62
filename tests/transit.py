"""The network between the appliance and the storage, changing bytes of page writes on the way."""

from __future__ import annotations

import json

import pytest
from azure.core.pipeline.transport import RequestsTransport


class PageWritesChanged:
    """From now on, one byte of each of the next `count` page writes (Put Page, update) to a URL holding `to` is
    changed on the way, after the client computed its checksum: every SDK client of the process sends through
    this network. `answers`: the storage's answer to each, (status, error code)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int, to: str) -> None:
        self.count = count
        self.answers: list[tuple[int, str | None]] = []
        send = RequestsTransport.send

        def through(transport: RequestsTransport, request, **kwargs):  # type: ignore[no-untyped-def]
            page_write = request.method == "PUT" and "comp=page" in request.url and to in request.url \
                and request.headers.get("x-ms-page-write") == "update"
            if not page_write or self.count <= 0:
                return send(transport, request, **kwargs)
            self.count -= 1
            body = bytearray(request.data)
            body[len(body) // 2] ^= 0x01
            request.data = bytes(body)
            response = send(transport, request, **kwargs)
            self.answers.append((response.status_code, _error_code(response)))
            return response

        monkeypatch.setattr(RequestsTransport, "send", through)


def _error_code(response) -> str | None:  # type: ignore[no-untyped-def]
    """Azure Storage and Azurite say it in x-ms-error-code; the lab's disk upload URL in an ARM error body."""
    if response.status_code < 400:
        return None
    return response.headers.get("x-ms-error-code") or json.loads(response.text())["error"]["code"]
