"""`python -m exporter simulate` as a subprocess, for end-to-end tests and benchmarks."""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

READY_PREFIX = "simulator: "
READY_MARK = " ready on "


class SimulatorProcess:
    """Start with SimulatorProcess.start([...simulate flags...]); stop() returns the exit code.
    The child's output is drained all along (so it never blocks on a full pipe) and the
    last lines are kept in `output`."""

    def __init__(self, proc: subprocess.Popen[str], ready: str,
                 output: collections.deque[str]) -> None:
        self.proc = proc
        self.ready_line = ready
        self.output = output

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, args: Sequence[str], timeout: float = 60.0,
              env: dict[str, str] | None = None) -> SimulatorProcess:
        """Run the simulator and wait for its ready line; raises RuntimeError (with its
        output) if it exits or is not ready within `timeout`."""
        root = str(Path(__file__).resolve().parents[2])
        full_env = dict(os.environ if env is None else env)
        full_env["PYTHONPATH"] = root + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "simulate", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
        output: collections.deque[str] = collections.deque(maxlen=200)
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, name="simulator-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(0.01, left)) if left > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                break
            if line.startswith(READY_PREFIX) and READY_MARK in line:
                return cls(proc, line.strip(), output)
        proc.kill()
        proc.wait()
        raise RuntimeError("simulator did not get ready:\n" + "".join(list(output)[-20:]))

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, return the exit code (kill after `timeout`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
