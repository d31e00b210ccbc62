"""The DNS gate: nothing replicates until the blob FQDN resolves, as the appliance resolves it, to the endpoint.

The appliance reaches the cache account by name; if that name resolves to the public address, the
replication traffic would leave the private network, so the gate refuses and says what to fix.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.rrset

from vmshift.azure.errors import DnsGateFailed
from vmshift.azure.private_dns import BLOB_ZONE, ZoneView

HOSTS_FILE = Path("/etc/hosts")
PUBLIC_BLOB_SUFFIX = "blob.core.windows.net"


@dataclass(frozen=True)
class Resolution:
    """One lookup of the blob FQDN: which path answered, the CNAME chain and the final addresses."""

    fqdn: str
    path: str
    cnames: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    from_hosts_file: bool = False


@dataclass(frozen=True)
class GateResult:
    fqdn: str
    passed: bool
    reason: str
    message: str
    resolution: Resolution


def blob_fqdn(account_name: str) -> str:
    return f"{account_name}.{PUBLIC_BLOB_SUFFIX}"


def privatelink_fqdn(account_name: str) -> str:
    return f"{account_name}.{BLOB_ZONE}"


def dns_servers_from_env() -> list[tuple[str, int]] | None:
    """`VMSHIFT_DNS_SERVERS` ("10.10.1.4,127.0.0.1:5353"): the appliance's resolvers; unset = system resolver."""
    value = os.environ.get("VMSHIFT_DNS_SERVERS", "").strip()
    return parse_dns_servers(value) if value else None


def parse_dns_servers(value: str) -> list[tuple[str, int]]:
    servers = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, port_text = item.split(":")
            port = int(port_text)
        else:
            host, port = item, 53
        servers.append((host, port))
    return servers


def hosts_file_addresses(fqdn: str, hosts_file: Path = HOSTS_FILE) -> tuple[str, ...]:
    """The addresses a hosts file gives the name; the system resolver consults it before DNS."""
    if not hosts_file.exists():
        return ()
    found = []
    for line in hosts_file.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fqdn.lower() in (name.lower().rstrip(".") for name in fields[1:]):
            found.append(fields[0])
    return tuple(found)


def chain_from_response(fqdn: str, response: dns.message.Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Follow the CNAME chain from `fqdn` through a response's answer section: (cnames, A addresses)."""

    def find(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        absolute = [(r.name.derelativize(dns.name.root), r) for r in response.answer]
        return next((r for owner, r in absolute if owner == name and r.rdtype == rdtype), None)

    current = dns.name.from_text(fqdn)
    cnames: list[str] = []
    for _ in range(len(response.answer)):
        rrset = find(current, dns.rdatatype.CNAME)
        if rrset is None:
            break
        current = rrset[0].target
        cnames.append(current.to_text(omit_final_dot=True))
    rrset = find(current, dns.rdatatype.A)
    addresses = tuple(r.address for r in rrset) if rrset is not None else ()
    return tuple(cnames), addresses


def resolve_blob_fqdn(
    fqdn: str,
    *,
    servers: list[tuple[str, int]] | None = None,
    hosts_file: Path = HOSTS_FILE,
    lifetime_s: float = 10.0,
) -> Resolution:
    """Resolve the name as the appliance does: its hosts file first, then its resolvers (or the system's).

    Raises DnsGateFailed ("resolver-unreachable") when no resolver answers within `lifetime_s`.
    """
    listed = hosts_file_addresses(fqdn, hosts_file)
    if listed:
        return Resolution(fqdn, f"hosts file {hosts_file}", addresses=listed, from_hosts_file=True)
    resolver = dns.resolver.Resolver(configure=servers is None)
    if servers is not None:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    path = "DNS " + ", ".join(str(ns) for ns in resolver.nameservers)
    try:
        answer = resolver.resolve(fqdn, "A", raise_on_no_answer=False, search=False, lifetime=lifetime_s)
        response = answer.response
    except dns.resolver.NXDOMAIN as nxdomain:
        response = next(iter(nxdomain.responses().values()))
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise DnsGateFailed(
            "resolver-unreachable",
            f"no answer for {fqdn} from {path}: {error}; check that the appliance's resolvers "
            "(VMSHIFT_DNS_SERVERS, else /etc/resolv.conf) are reachable from it",
        ) from error
    cnames, addresses = chain_from_response(fqdn, response)
    return Resolution(fqdn, path, cnames=cnames, addresses=addresses)


def judge(resolution: Resolution, *, account_name: str, endpoint_ip: str, zone: ZoneView | None) -> GateResult:
    """Pass only on the endpoint's private address; otherwise name the failure and its fix.

    `zone` (what ARM says about the private zone) tells apart failures that look alike in DNS:
    an unlinked zone and a missing record both leave the resolver with the public answer.
    """
    fqdn = resolution.fqdn
    answered = f"{fqdn} resolved through {resolution.path} to {', '.join(resolution.addresses) or 'nothing'}"

    def result(reason: str, message: str) -> GateResult:
        return GateResult(fqdn, reason == "passed", reason, message, resolution)

    if resolution.from_hosts_file:
        if endpoint_ip in resolution.addresses:
            return result("passed", f"{answered}, the private endpoint's address (answered by the hosts file)")
        return result(
            "hosts-file-override",
            f"hosts-file override present: {answered}, but the private endpoint's NIC has {endpoint_ip}; "
            f"the hosts file wins over DNS, so fix or remove the {fqdn} line in the {resolution.path}",
        )
    if endpoint_ip in resolution.addresses and all(_private(a) for a in resolution.addresses):
        return result("passed", f"{answered}, the private endpoint's address")
    zone_name = BLOB_ZONE
    if privatelink_fqdn(account_name) not in (c.lower() for c in resolution.cnames):
        return result(
            "no-privatelink-cname",
            f"no CNAME to {privatelink_fqdn(account_name)}: {answered} without passing through the privatelink "
            "name, so this resolver does not see the private endpoint; check that the endpoint exists and is "
            "approved and that the appliance's resolvers forward blob.core.windows.net to Azure DNS",
        )
    private_answers = [a for a in resolution.addresses if _private(a)]
    if private_answers:
        return result(
            "stale-address",
            f"stale address: {answered}, but the private endpoint's NIC has {endpoint_ip}; the A record "
            f"{account_name} in zone {zone_name} (or a DNS cache) points elsewhere: recreate the endpoint's "
            "zone group so it rewrites the record, and flush the resolvers' caches",
        )
    if zone is not None and not zone.zone_exists:
        return result(
            "zone-missing",
            f"public address: {answered}; the private DNS zone {zone_name} does not exist: run the private DNS step",
        )
    if zone is not None and not zone.linked:
        return result(
            "zone-not-linked",
            f"zone not linked: {answered} (a public address) because the private DNS zone {zone_name} is not "
            "linked to the appliance's VNet; add a virtual network link from the zone to that VNet",
        )
    if zone is not None and not zone.record_addresses:
        return result(
            "record-missing",
            f"record missing: {answered} (a public address) because zone {zone_name} holds no A record "
            f"{account_name}; add the private DNS zone group to the endpoint so Azure writes it",
        )
    return result(
        "public-address",
        f"public address: {answered}; the appliance's resolvers do not answer from the private zone "
        f"{zone_name}: forward blob.core.windows.net to Azure DNS (168.63.129.16) from a VNet linked to the zone",
    )


def check_dns_gate(
    account_name: str,
    endpoint_ip: str,
    *,
    zone: ZoneView | None = None,
    servers: list[tuple[str, int]] | None = None,
    hosts_file: Path = HOSTS_FILE,
) -> GateResult:
    """The gate itself: raises DnsGateFailed with the reason and its fix unless the name is private."""
    resolution = resolve_blob_fqdn(blob_fqdn(account_name), servers=servers, hosts_file=hosts_file)
    outcome = judge(resolution, account_name=account_name, endpoint_ip=endpoint_ip, zone=zone)
    if not outcome.passed:
        raise DnsGateFailed(outcome.reason, outcome.message)
    return outcome


def _private(address: str) -> bool:
    return ipaddress.ip_address(address).is_private
