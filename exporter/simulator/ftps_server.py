"""Each printer's implicit FTPS on port 990 of its own address: pyftpdlib (a well-kept
FTP server) wrapped for implicit TLS, serving the printer's storage (a folder per printer)
read-only to user `bblp` with the access code, as vsFTPd on the printers does.

Like the printers: the data channel must reuse the control channel's TLS session (522
otherwise), PASV, SIZE and REST work. Firmware modes (faults) shape it further: TLS 1.3
never answered, a protected data channel that never handshakes (A1), a server that drips a
byte a second. The server runs its own I/O loop in a thread; it only reads the printers'
faults and the files the printers write.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ThrottledDTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from exporter.simulator import certs
from exporter.simulator.faults import Fault
from exporter.simulator.printer import SimulatedPrinter
from exporter.simulator.tls_hello import offers_tls13, record_complete

PORT = 990
HELLO_WAIT = 10.0
REUSE_REQUIRED = "522 SSL connection failed: session reuse required"


def _context(cert: Path, key: Path) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.use_certificate_chain_file(str(cert))
    context.use_privatekey_file(str(key))
    context.set_options(SSL.OP_NO_COMPRESSION)
    # server-side session cache, so that a data channel can resume the control's session
    context.set_session_id(b"bambu-sim-ftps")
    context.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
    return context


class _DataChannel(TLS_DTPHandler):  # type: ignore[misc]
    """A protected data channel that must resume the control channel's TLS session."""

    def handle_ssl_established(self) -> None:
        control = self.cmd_channel.socket
        if self.socket.master_key() != control.master_key():
            # a fresh session: vsFTPd with require_ssl_reuse answers so and drops the channel
            self.cmd_channel.respond(REUSE_REQUIRED)
            self._resp = ()
            self.del_channel()
            self.socket.close()
            self.cmd_channel.data_channel = None
            self.cmd_channel._out_dtp_queue = None


class _DrippingDataChannel(_DataChannel, ThrottledDTPHandler):  # type: ignore[misc]
    write_limit = 1   # a byte a second


class _StalledDataChannel(TLS_DTPHandler):  # type: ignore[misc]
    """A1 firmware: a protected data channel whose TLS handshake is never answered."""

    def __init__(self, sock: socket.socket, cmd_channel: Any) -> None:
        protected = cmd_channel._prot
        cmd_channel._prot = False   # so the base class does not start TLS
        super().__init__(sock, cmd_channel)
        cmd_channel._prot = protected
        self.stalled = protected

    def push(self, data: bytes) -> None:
        if not self.stalled:
            super().push(data)

    def push_with_producer(self, producer: Any) -> None:
        if not self.stalled:
            super().push_with_producer(producer)

    def readable(self) -> bool:
        return True if self.stalled else bool(super().readable())

    def close_when_done(self) -> None:
        if not self.stalled:
            super().close_when_done()

    def writable(self) -> bool:
        return False if self.stalled else bool(super().writable())

    def handle_read_event(self) -> None:
        if self.stalled:
            try:
                self.socket.recv(4096)   # the ClientHello, never answered
            except OSError:
                pass
            return
        super().handle_read_event()


class _Control(TLS_FTPHandler):  # type: ignore[misc]
    """Implicit TLS: the handshake comes first, then the banner."""

    printer: SimulatedPrinter
    max_login_attempts = 1
    auth_failed_timeout = 1   # vsFTPd: delay_failed_login, 1 s
    timeout = 60
    banner = "(vsFTPd 3.0.5)"

    def __init__(self, conn: socket.socket, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        faults = self.printer.faults
        if Fault.FTPS_A1_DATA in faults:
            self.dtp_handler = _StalledDataChannel
        elif Fault.FTPS_DRIP in faults:
            self.dtp_handler = _DrippingDataChannel
        else:
            self.dtp_handler = _DataChannel

    def handle(self) -> None:
        self.printer.ftp_connections += 1
        self.server.files.opened()
        self.counted = True
        if Fault.TLS13_DEAF in self.printer.faults:
            self._wait_for_hello(0.0)
        else:
            self._start_tls()

    def _start_tls(self) -> None:
        self.secure_connection(self.ssl_context)
        self._do_ssl_handshake()

    def _wait_for_hello(self, waited: float) -> None:
        """Look at the ClientHello before TLS starts: one offering TLS 1.3 is never
        answered (P2S firmware)."""
        if self._closed:
            return
        try:
            hello = self.socket.recv(16384, socket.MSG_PEEK)
        except BlockingIOError:
            hello = b""
        except OSError:
            self.close()
            return
        if hello and record_complete(hello):
            if offers_tls13(hello):
                self.del_channel()   # read nothing more, answer nothing; closed at stop
            else:
                self._start_tls()
            return
        if waited > HELLO_WAIT:
            self.close()
            return
        self.del_channel()
        self.ioloop.call_later(0.02, self._resume_wait, waited + 0.02)

    def _resume_wait(self, waited: float) -> None:
        if not self._closed:
            self.add_channel()
            self._wait_for_hello(waited)

    def handle_ssl_established(self) -> None:
        super().handle()   # the banner, once the control channel's TLS is up

    def close(self) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            self.server.files.closed()
        super().close()

    def ftp_PROT(self, line: str) -> None:
        self._pbsz = True   # vsFTPd takes PROT without PBSZ too
        super().ftp_PROT(line)


class _Server(FTPServer):  # type: ignore[misc]
    max_cons = 0           # the loop holds every printer's listener: count nothing
    max_cons_per_ip = 0
    files: JobFileServer


class JobFileServer:
    """Every printer's FTPS listener on one pyftpdlib loop in a thread."""

    def __init__(self, printers: list[SimulatedPrinter], root: Path, port: int = PORT) -> None:
        self.root = root
        self.port = port
        self._printers = printers
        self._loop: Any = None
        self._servers: list[Any] = []
        self._thread: threading.Thread | None = None
        # FTP sessions open now across the fleet, and the most at once (the exporter's
        # fleet-wide cap, seen from the printers' side); changed on the server's loop only
        self.open_sessions = 0
        self.peak_sessions = 0
        self.sessions = 0

    def opened(self) -> None:
        self.open_sessions += 1
        self.sessions += 1
        self.peak_sessions = max(self.peak_sessions, self.open_sessions)

    def closed(self) -> None:
        self.open_sessions -= 1

    def storage(self, printer: SimulatedPrinter) -> Path:
        return self.root / printer.record.serial

    def start(self) -> None:
        # a line per FTP command would drown a test's output and a demo's log (a handler
        # of our own also keeps pyftpdlib from configuring its INFO logging itself)
        ftp_log = logging.getLogger("pyftpdlib")
        ftp_log.setLevel(logging.WARNING)
        if not ftp_log.handlers:
            ftp_log.addHandler(logging.NullHandler())
        with tempfile.TemporaryDirectory(prefix="bambu-sim-ftps-") as tmp:
            cert, key = certs.self_signed_files(Path(tmp))
            context = _context(cert, key)
        self._loop = IOLoop()
        for printer in self._printers:
            # every printer keeps its files (an offline one too: it may come back)
            home = self.storage(printer)
            home.mkdir(parents=True, exist_ok=True)
            if Fault.NO_STORAGE not in printer.faults:
                for folder in ("cache", "model", "timelapse"):
                    (home / folder).mkdir(exist_ok=True)
            if Fault.OFFLINE in printer.faults:
                continue
            authorizer = DummyAuthorizer()
            authorizer.add_user("bblp", printer.record.access_code, str(home), perm="elr")
            handler = type(f"Control_{printer.record.serial}", (_Control,), {
                "printer": printer, "authorizer": authorizer, "ssl_context": context,
                "passive_ports": None})
            try:
                server = _Server((printer.record.ip, self.port), handler, ioloop=self._loop,
                                 backlog=64)
                server.files = self
                self._servers.append(server)
            except OSError:
                self.stop()
                raise
        self._thread = threading.Thread(target=self._run, name="simulated-ftps", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.loop(timeout=0.2, blocking=True)
        except Exception:  # the loop closed under us at stop
            pass

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        done = threading.Event()

        def close() -> None:
            for server in self._servers:
                server.close_all()
            done.set()

        if self._thread is not None and self._thread.is_alive():
            loop.call_later(0, close)
            done.wait(10)
            self._thread.join(10)
        else:
            close()
        self._servers = []
        self._thread = None


