"""The printer's implicit FTPS, through the standard library's ftplib (no FTP codec of
ours): TLS from the first byte on port 990, TLS 1.2 at most (some firmware never answers a
ClientHello offering 1.3), PASV, and a protected data channel that resumes the control
channel's TLS session (vsFTPd refuses a fresh one with 522). Every socket carries the
timeout of the call; the caller's deadline bounds the whole.
"""

from __future__ import annotations

import ftplib
import socket
import ssl
from typing import Any

PORT = 990
USER = "bblp"


def client_context() -> ssl.SSLContext:
    """Printers present self-signed or Bambu-issued certificates; the data is a job's plan
    and the access code goes over this channel only to the printer the list names."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class ImplicitFtps(ftplib.FTP_TLS):
    """FTP_TLS with TLS before the banner and TLS session reuse on the data channel."""

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(context=context, timeout=timeout)
        self.op_timeout = timeout
        self.clear_data = False

    def connect(self, host: str = "", port: int = 0, timeout: float = -999,
                source_address: Any = None) -> str:
        self.host, self.port = host, port or PORT
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((self.host, self.port), self.timeout)
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=None)
        except BaseException:
            raw.close()
            raise
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def login(self, user: str = "", passwd: str = "", acct: str = "",
              secure: bool = True) -> str:
        # the control channel is already TLS: no AUTH TLS, just the login
        return ftplib.FTP.login(self, user, passwd, acct)

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            try:
                conn = self.context.wrap_socket(conn, server_hostname=None,
                                                session=self.sock.session)  # type: ignore[union-attr]
            except BaseException:
                conn.close()
                raise
        return conn, size

    def protect(self, clear: bool) -> None:
        """PROT P (PBSZ first), or PROT C for firmware whose protected data channel
        never answers (A1, A1 mini)."""
        self.voidcmd("PBSZ 0")
        if clear:
            self.prot_c()
        else:
            self.voidcmd("PROT P")
            self._prot_p = True
        self.clear_data = clear
        self.voidcmd("TYPE I")   # binary: SIZE is refused in ASCII mode by some servers
