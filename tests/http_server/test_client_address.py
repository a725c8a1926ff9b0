"""The keys clients are counted under: an IPv4 address or an IPv6 site (/48) for shares,
an IPv4 /24 or an IPv6 /48 for suspicion."""

from __future__ import annotations

import pytest

from exporter.http_server.client_address import client_key, network_key

pytestmark = pytest.mark.tier("unit")


@pytest.mark.parametrize("address, key, network", [
    ("192.0.2.7", "192.0.2.7", "192.0.2.0/24"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1::/48", "2001:db8:1::/48"),
    # another /64 of the same site: the same client (counted by /64, it was a fresh one)
    ("2001:db8:1:ffff:bbbb::9", "2001:db8:1::/48", "2001:db8:1::/48"),
    ("2001:db8:2::1", "2001:db8:2::/48", "2001:db8:2::/48"),
    ("::ffff:192.0.2.7", "192.0.2.7", "192.0.2.0/24"),
    ("?", "?", "?"),
])
def test_clients_count_by_address_or_ipv6_site(address: str, key: str, network: str) -> None:
    assert client_key(address) == key
    assert network_key(address) == network
