"""What a client is counted as: the keys that shares and suspicions are kept under.

One host has one IPv4 address (a NAT's users share it), but a whole IPv6 prefix to pick
addresses from: a site gets a /48 (RFC 6177 allows /56 too; /48 is the widest a single
site is given, so it is what one attacker can be assumed to hold). Counting IPv6 by /64
let a client hop to a fresh address, and a fresh share, with every request.
"""

from __future__ import annotations

import ipaddress

IPV6_SITE_PREFIX = 48    # an IPv6 client: its site's prefix
IPV4_NETWORK_PREFIX = 24   # wrong passwords from one IPv4 address make its /24 suspect


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _prefix(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, bits: int) -> str:
    drop = ip.max_prefixlen - bits
    network = ipaddress.ip_network((int(ip) >> drop << drop, bits))
    return str(network)


def client_key(address: str) -> str:
    """The client's share key: an IPv4 address itself, an IPv6 address's /48."""
    ip = _ip(address)
    if ip is None:
        return address
    if ip.version == 6:
        return _prefix(ip, IPV6_SITE_PREFIX)
    return str(ip)


def network_key(address: str) -> str:
    """The network a client's bad deeds are held against: IPv4 /24, IPv6 /48. An
    attacker that uses each address once still uses the same few networks."""
    ip = _ip(address)
    if ip is None:
        return address
    return _prefix(ip, IPV6_SITE_PREFIX if ip.version == 6 else IPV4_NETWORK_PREFIX)
