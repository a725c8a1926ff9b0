"""--web.systemd-socket: listening sockets handed over by systemd (socket activation).

systemd's protocol (sd_listen_fds(3)): the sockets are descriptors 3, 4, ... in order,
LISTEN_FDS says how many and LISTEN_PID which process they are for (a child that
inherited the variables must not take them). The variables are removed once read, as
sd_listen_fds(unset_environment=1) does, so no process started later sees them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

from exporter.errors import ConfigError
from exporter.text import ascii_digits

FLAG = "--web.systemd-socket"
SD_LISTEN_FDS_START = 3


def systemd_sockets(environ: MutableMapping[str, str] | None = None,
                    pid: int | None = None) -> list[socket.socket]:
    """The listening TCP sockets systemd passed to this process; ConfigError naming the
    flag when there are none or they are not for this process."""
    env = os.environ if environ is None else environ
    fds_text = env.pop("LISTEN_FDS", "").strip()
    pid_text = env.pop("LISTEN_PID", "").strip()
    env.pop("LISTEN_FDNAMES", None)
    if not fds_text:
        raise ConfigError(f"{FLAG}: no sockets were handed over (LISTEN_FDS is not set): start "
                          "the exporter from a systemd .socket unit, or drop the flag")
    if not ascii_digits(fds_text) or int(fds_text) < 1:
        raise ConfigError(f"{FLAG}: LISTEN_FDS={fds_text!r} is not a number of sockets")
    own = os.getpid() if pid is None else pid
    if pid_text != str(own):
        raise ConfigError(f"{FLAG}: the sockets are for process {pid_text or '?'}, not this "
                          f"one ({own}): LISTEN_PID does not match")
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + int(fds_text)):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ConfigError(f"{FLAG}: descriptor {fd} is not a socket "
                              f"({exc.strerror or exc})") from None
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET,
                                                                  socket.AF_INET6):
            sock.detach()
            raise ConfigError(f"{FLAG}: descriptor {fd} is not a TCP socket (the .socket "
                              "unit needs ListenStream=HOST:PORT)")
        # Worker processes must not inherit the listening sockets.
        sock.set_inheritable(False)
        sockets.append(sock)
    return sockets
