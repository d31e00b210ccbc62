"""Whether a planned static IP can be given in its subnet, as Azure decides it.

Azure refuses an address outside the subnet's prefixes (PrivateIPAddressNotInSubnet) and the five it keeps in
every subnet: the network address, the first three hosts (gateway and DNS) and the broadcast address. The
online checks ask ARM for the prefixes and call this; the plan's own duplicates are found offline.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

# Azure reserves x.x.x.0 to x.x.x.3 and the last address of each subnet.
RESERVED_AT_START = 4
RESERVED_AT_END = 1


def ip_problem(ip: str, prefixes: Sequence[str], subnet: str) -> str | None:
    """Why Azure would refuse `ip` as a static address in `subnet` (of `prefixes`), or None."""
    address = ipaddress.ip_address(ip)
    for prefix in prefixes:
        network = ipaddress.ip_network(prefix, strict=False)
        if address not in network:
            continue
        offset = int(address) - int(network.network_address)
        if offset < RESERVED_AT_START or offset > network.num_addresses - 1 - RESERVED_AT_END:
            return (f"{ip} is one of the addresses Azure reserves in subnet {subnet} ({prefix}: the first four and "
                    "the last); allowed: another address of the subnet")
        return None
    shown = ", ".join(prefixes) or "no prefix"
    return f"{ip} is outside subnet {subnet} ({shown}); allowed: an address of the subnet"
