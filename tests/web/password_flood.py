"""A wrong-password flood for the basic auth tests: `count` clients, each from its own
loopback address, each sending request after request with a fresh random password on a
kept-alive connection, as fast as answers come. Runs until its stdin closes, then prints
the statuses it got as JSON.

    python -m tests.web.password_flood HOST PORT FIRST_ADDRESS COUNT USER
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import secrets
import sys
from collections import Counter


async def client(address: str, host: str, port: int, user: str, counts: Counter[str],
                 stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(address, 0))
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
                if b"Connection: close" in head:
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            counts["dropped"] += 1
        finally:
            writer.close()


async def main(host: str, port: int, first: str, count: int, user: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    stop = asyncio.Event()
    base = ipaddress.ip_address(first)
    tasks = [asyncio.create_task(client(str(base + i), host, port, user, counts, stop))
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
    print(json.dumps(asyncio.run(main(host, int(port), first, int(count), user))), flush=True)
