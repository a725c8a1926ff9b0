"""The descriptor limit against the printers a process holds.

Each printer's session holds one socket; a thousand printers need more than the usual
soft limit of 1024. The limit is raised to the hard one at start (as Go programs do),
and each process that holds sessions (the exporter with --workers 1, each worker) checks
its share of the list against it: past the limit, connects fail with EMFILE (counted as
`local` and retried, never stranded), so say so once, clearly, with the fix.
"""

from __future__ import annotations

import logging
import resource

# Descriptors a process needs besides its printers' sockets: epoll, wake-up pair, worker
# pipe, log files, the database connection, the resolver, a TLS handshake's spare.
RESERVE = 128


def raise_to_hard_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:   # an infinite hard limit the kernel caps
            logging.getLogger(__name__).warning(
                "could not raise the open files limit from %d: %s", soft, exc)
    return soft_limit()


def soft_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 30 if soft == resource.RLIM_INFINITY else int(soft)


def shortfall(printers: int, limit: int, reserve: int = RESERVE) -> str | None:
    """Why `printers` sessions do not fit under `limit` descriptors, or None."""
    needed = printers + reserve
    if needed <= limit:
        return None
    return (f"{printers} printers in this process need about {needed} open files (one "
            f"socket each, {reserve} besides), but the limit is {limit}: about "
            f"{needed - limit} printers will fail to connect (reason local) until the limit "
            "is raised (systemd LimitNOFILE=, ulimit -n, docker --ulimit nofile=) or the "
            "printers are spread over --workers or --shard.count")


class OpenFilesCheck:
    """Logs once when a process's printers stop fitting its limit, once when they fit again."""

    def __init__(self, logger: logging.Logger | None = None, limit: int | None = None) -> None:
        self._log = logger or logging.getLogger(__name__)
        self._limit = limit
        self._short = False

    def check(self, printers: int) -> str | None:
        why = shortfall(printers, self._limit if self._limit is not None else soft_limit())
        if why is not None and not self._short:
            self._log.error("%s", why)
        elif why is None and self._short:
            self._log.info("the %d printers in this process fit its open files limit again",
                           printers)
        self._short = why is not None
        return why
