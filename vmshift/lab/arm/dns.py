"""The lab's DNS, answering as Azure DNS does for a client in the appliance VNet.

`<account>.blob.core.windows.net` of an account with a private endpoint is a CNAME to
`<account>.privatelink.blob.core.windows.net`; that name resolves from the private zone when the zone
is linked to an appliance VNet and holds the record, otherwise to the account's public address
(a 20.60.x.y address nothing ever connects to).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from vmshift.lab.arm.privatedns.models import lookup
from vmshift.lab.arm.storage.models import find_account
from vmshift.lab.arm.store import Store

TTL = 10
# A CNAME loop in the private zones must end; resolvers give up after a handful of hops.
MAX_CNAME_HOPS = 8
_SERVICE_NAME = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.(?P<privatelink>privatelink\.)?"
                           r"(?P<service>blob|file|queue|table|web|dfs)\.core\.windows\.net$")


def public_address(account: str) -> str:
    digest = hashlib.sha256(account.encode()).digest()
    return f"20.60.{digest[0]}.{digest[1] % 254 + 1}"


class PrivateZoneResolver(BaseResolver):
    """Resolves from the store on every query, so a new link or zone group shows at once."""

    def __init__(self, store: Store, appliance_vnet_ids: Callable[[], list[str]]) -> None:
        self.store = store
        self.appliance_vnet_ids = appliance_vnet_ids

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        records = self.answer(qname)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        qtype = request.q.qtype
        for record in records:
            if qtype in (QTYPE.A, QTYPE.ANY) or record.rtype == QTYPE.CNAME:
                reply.add_answer(record)
        return reply

    def answer(self, name: str, hops: int = 0) -> list[RR] | None:
        """The answer chain for name, or None for a name that does not exist."""
        private = lookup(self.store, name, self.appliance_vnet_ids())
        if private is not None:
            _, addresses, target = private
            if target:
                # Azure DNS resolves recursively: the CNAME's target follows it in the same answer.
                alias = RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=TTL)
                rest = self.answer(target.rstrip(".").lower(), hops + 1) if hops < MAX_CNAME_HOPS else None
                return [alias, *(rest or [])]
            if addresses:
                return [RR(name, QTYPE.A, rdata=A(a), ttl=TTL) for a in addresses]
        found = _SERVICE_NAME.match(name)
        if found is None:
            return None
        account = find_account(self.store, found["account"])
        if account is None:
            return None
        chain: list[RR] = []
        current = name
        if not found["privatelink"] and account["properties"]["privateEndpointConnections"]:
            target = f"{found['account']}.privatelink.{found['service']}.core.windows.net"
            chain.append(RR(current, QTYPE.CNAME, rdata=CNAME(target), ttl=TTL))
            current = target
            private = lookup(self.store, current, self.appliance_vnet_ids())
            if private is not None and private[1]:
                return chain + [RR(current, QTYPE.A, rdata=A(a), ttl=TTL) for a in private[1]]
        store_name = f"{found['service']}.{account['location']}.store.core.windows.net"
        chain.append(RR(current, QTYPE.CNAME, rdata=CNAME(store_name), ttl=TTL))
        chain.append(RR(store_name, QTYPE.A, rdata=A(public_address(found["account"])), ttl=TTL))
        return chain


@dataclass
class DnsServers:
    udp: DNSServer
    tcp: DNSServer
    host: str
    port: int

    def stop(self) -> None:
        self.udp.stop()
        self.tcp.stop()


def start_dns(resolver: PrivateZoneResolver, host: str = "127.0.0.1", port: int = 0) -> DnsServers:
    """UDP on a free port (or the one given), TCP on the same number, both in daemon threads."""
    for _ in range(20):
        udp = DNSServer(resolver, address=host, port=port)
        bound = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, address=host, port=bound, tcp=True)
        except OSError:
            udp.server.server_close()
            if port:
                raise
            continue
        for server in (udp, tcp):
            threading.Thread(target=server.server.serve_forever, daemon=True, name="lab-dns").start()
        return DnsServers(udp, tcp, host, bound)
    raise OSError("no free port for both UDP and TCP DNS on the loopback")
