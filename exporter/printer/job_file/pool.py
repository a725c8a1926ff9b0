"""Job-file fetches for the whole fleet: a small bounded pool of threads (the fleet-wide
cap), one transfer per printer at a time, retries with back-off while the file is not
there yet (it appears seconds after the job starts on some models), then given up with
the reason. Waiting retries hold no thread: one scheduler thread hands due work to the
pool.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from exporter.printer.job_file.fetch import FetchResult, FetchTarget, fetch_plan
from exporter.printer.job_file.ftps import client_context
from exporter.printer.job_file.plan import JobFileError

log = logging.getLogger(__name__)

Outcome = FetchResult | JobFileError
Fetch = Callable[[FetchTarget, float], FetchResult]


@dataclass(frozen=True)
class FetchPolicy:
    workers: int = 4             # transfers at once, fleet-wide
    attempt_deadline: float = 60.0   # one try, connect to plan
    operation_timeout: float = 10.0  # one socket wait
    first_delay: float = 3.0     # after the job starts: most files are there by then
    retry_delay: float = 5.0     # doubling, up to max_delay, while the file is missing
    max_delay: float = 60.0
    give_up_after: float = 300.0  # the file never appeared: no_file


@dataclass
class _Pending:
    key: str
    target: FetchTarget
    on_result: Callable[[Outcome], None]
    since: float
    delay: float
    generation: int


class JobFileFetcher:
    """`request(key, target, on_result)` when a printer (key) starts a job; `on_result` is
    called from a pool thread once, with the plan or the final error. A newer request for
    the same printer replaces an older one that has not run yet."""

    def __init__(self, policy: FetchPolicy | None = None, temp_dir: str | None = None,
                 fetch: Fetch | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self._temp_dir = temp_dir
        self._fetch = fetch or self._fetch_over_ftps
        self._context = client_context()   # one for every fetch: shared safely across threads
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.policy.workers),
                                        thread_name_prefix="job-file")
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, str, int]] = []
        self._pending: dict[str, _Pending] = {}
        self._in_flight: set[str] = set()
        self._order = itertools.count()
        self._generations = itertools.count(1)
        self._closed = False
        self.max_in_flight = 0        # the most transfers seen at once (the cap, checked)
        self._thread = threading.Thread(target=self._schedule, name="job-file-scheduler",
                                        daemon=True)
        self._thread.start()

    def request(self, key: str, target: FetchTarget, on_result: Callable[[Outcome], None]) -> None:
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            pending = _Pending(key, target, on_result, now, self.policy.retry_delay,
                               next(self._generations))
            self._pending[key] = pending
            self._push(now + self.policy.first_delay, pending)

    def cancel(self, key: str, on_result: Callable[[Outcome], None]) -> None:
        """Forget the printer's request if it is still the one `on_result` made (a session
        closing must not cancel its successor's)."""
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None and pending.on_result == on_result:
                del self._pending[key]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending.clear()
            self._lock.notify_all()
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _push(self, due: float, pending: _Pending) -> None:
        heapq.heappush(self._heap, (due, next(self._order), pending.key, pending.generation))
        self._lock.notify_all()

    def _schedule(self) -> None:
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                wait = 1.0
                while self._heap and self._heap[0][0] <= now:
                    due, _, key, generation = heapq.heappop(self._heap)
                    pending = self._pending.get(key)
                    if pending is None or pending.generation != generation:
                        continue   # replaced or cancelled
                    if key in self._in_flight or len(self._in_flight) >= self.policy.workers:
                        # one transfer per printer; the fleet-wide cap: try again shortly
                        heapq.heappush(self._heap, (now + 0.05, next(self._order), key, generation))
                        break
                    self._in_flight.add(key)
                    self.max_in_flight = max(self.max_in_flight, len(self._in_flight))
                    self._pool.submit(self._run, pending)
                if self._heap:
                    wait = min(wait, max(0.0, self._heap[0][0] - time.monotonic()))
                self._lock.wait(wait)

    def _run(self, pending: _Pending) -> None:
        outcome: Outcome
        try:
            outcome = self._fetch(pending.target, time.monotonic() + self.policy.attempt_deadline)
        except JobFileError as exc:
            outcome = exc
        except Exception as exc:   # a bug of ours must not end the pool thread's work
            log.exception("job file fetch failed unexpectedly")
            outcome = JobFileError("bad_file", f"unexpected {type(exc).__name__}")
        retry = False
        with self._lock:
            self._in_flight.discard(pending.key)
            current = self._pending.get(pending.key)
            if current is None or current.generation != pending.generation:
                self._lock.notify_all()
                return   # a newer job replaced this one while it ran
            now = time.monotonic()
            if isinstance(outcome, JobFileError) and outcome.reason == "no_file" \
                    and now - pending.since + pending.delay <= self.policy.give_up_after:
                retry = True
                due = now + pending.delay
                pending.delay = min(pending.delay * 2, self.policy.max_delay)
                self._push(due, pending)
            else:
                del self._pending[pending.key]
            self._lock.notify_all()
        if not retry:
            try:
                pending.on_result(outcome)
            except Exception:
                log.exception("job file result not taken")

    def _fetch_over_ftps(self, target: FetchTarget, deadline: float) -> FetchResult:
        return fetch_plan(target, deadline, self.policy.operation_timeout, self._temp_dir,
                          context=self._context)
