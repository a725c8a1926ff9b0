"""A wrong-password flood for the basic auth tests: `count` clients, each from its own
loopback address, each sending request after request with a fresh random password on a
kept-alive connection, as fast as answers come. Runs until its stdin closes, then prints
the statuses it got as JSON.

    python -m tests.http_server.password_flood HOST PORT FIRST_ADDRESS COUNT USER [fresh]

With `fresh`, every request comes on a new connection from the next address of
FIRST_ADDRESS's /24 (each used once until the 254 run out), as an attacker holding a
network would send them.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools
import json
import secrets
import sys
from collections import Counter
from collections.abc import Iterator


async def client(address: str | Iterator[str], host: str, port: int, user: str,
                 counts: Counter[str], stop: asyncio.Event) -> None:
    fresh = not isinstance(address, str)
    while not stop.is_set():
        source = next(address) if not isinstance(address, str) else address
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            counts["connect_error"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while not stop.is_set():
                token = base64.b64encode(f"{user}:{secrets.token_hex(8)}".encode()).decode()
                writer.write(f"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                             f"Authorization: Basic {token}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                counts[head.split(b" ", 2)[1].decode()] += 1
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                if fresh or b"Connection: close" in head:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            counts["dropped"] += 1
        finally:
            writer.close()


def fresh_addresses(first: str) -> Iterator[str]:
    """The addresses of `first`'s /24, from `first` on, round and round."""
    network = ipaddress.ip_network(f"{first}/24", strict=False)
    hosts = [str(ip) for ip in network.hosts()]
    start = hosts.index(first)
    return itertools.cycle(hosts[start:] + hosts[:start])


async def main(host: str, port: int, first: str, count: int, user: str,
               fresh: bool = False) -> Counter[str]:
    counts: Counter[str] = Counter()
    stop = asyncio.Event()
    base = ipaddress.ip_address(first)
    shared = fresh_addresses(first)
    tasks = [asyncio.create_task(client(shared if fresh else str(base + i), host, port,
                                        user, counts, stop))
             for i in range(count)]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)   # until the test closes our stdin
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


if __name__ == "__main__":
    host, port, first, count, user = sys.argv[1:6]
    fresh = sys.argv[6:7] == ["fresh"]
    print(json.dumps(asyncio.run(main(host, int(port), first, int(count), user, fresh))),
          flush=True)
