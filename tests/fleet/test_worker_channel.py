"""The main process's end of a worker's pipe: Connection's framing, every read and write
under a deadline. The far end is a real multiprocessing Connection, as in a worker."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

import pytest

from exporter.fleet.worker_channel import ChannelClosed, WorkerChannel

pytestmark = pytest.mark.tier("unit")

BIG = "x" * (4 << 20)   # far more than a socket buffer


@pytest.fixture
def pair() -> Iterator[tuple[WorkerChannel, socket.socket]]:
    ours, theirs = socket.socketpair()
    channel = WorkerChannel(ours)
    try:
        yield channel, theirs
    finally:
        channel.close()
        theirs.close()


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_messages_go_both_ways_with_a_connection_at_the_far_end(
        pair: tuple[WorkerChannel, socket.socket]) -> None:
    channel, theirs = pair
    conn = Connection(theirs.detach())
    channel.send(("lines", 1, 123.5))
    assert conn.recv() == ("lines", 1, 123.5)
    # An answer bigger than the socket buffer arrives whole.
    writer = threading.Thread(target=conn.send, args=((1, BIG, []),))
    writer.start()
    assert channel.recv(soon()) == (1, BIG, [])
    writer.join()
    conn.send((2, None))
    assert channel.recv(soon()) == (2, None)
    conn.close()


def test_a_message_cut_short_times_out_and_is_finished_by_the_next_read(
        pair: tuple[WorkerChannel, socket.socket]) -> None:
    # A worker stopped in the middle of writing: the read ends at its deadline, keeping
    # what came, and the stream stays in step when the rest comes.
    channel, theirs = pair
    body = bytes(ForkingPickler.dumps((7, "lines " * 1000)))
    frame = struct.pack("!i", len(body)) + body
    theirs.sendall(frame[:2])
    with pytest.raises(TimeoutError):
        channel.recv(time.monotonic() + 0.2)
    theirs.sendall(frame[2:3000])
    with pytest.raises(TimeoutError):
        channel.recv(time.monotonic() + 0.2)
    theirs.sendall(frame[3000:] + frame)
    assert channel.recv(soon()) == (7, "lines " * 1000)
    assert channel.recv(soon()) == (7, "lines " * 1000)


def test_sending_to_a_peer_that_does_not_read_never_blocks(
        pair: tuple[WorkerChannel, socket.socket]) -> None:
    channel, theirs = pair
    channel.send(("records", 0, BIG))   # returns although nobody reads
    channel.send(("lines", 1, 0.0))
    assert channel.pending
    assert channel.flush(time.monotonic() + 0.1) is False   # still nobody reads
    conn = Connection(theirs.detach())
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend([conn.recv(), conn.recv()]))
    reader.start()
    assert channel.flush(soon()) is True
    reader.join(10)
    assert got == [("records", 0, BIG), ("lines", 1, 0.0)]
    conn.close()


def test_waiting_for_an_answer_also_flushes_what_is_queued(
        pair: tuple[WorkerChannel, socket.socket]) -> None:
    channel, theirs = pair
    conn = Connection(theirs.detach())

    def echo() -> None:
        request = conn.recv()
        conn.send((request[1], len(request[2])))
    worker = threading.Thread(target=echo)
    worker.start()
    channel.send(("records", 5, BIG))
    assert channel.recv(soon()) == (5, len(BIG))
    worker.join()
    conn.close()


def test_end_of_file_and_broken_frames_close_the_channel() -> None:
    for frame in (b"", struct.pack("!i", 100) + b"cut", struct.pack("!i", -7),
                  struct.pack("!i", 4) + b"junk"):
        ours, theirs = socket.socketpair()
        channel = WorkerChannel(ours)
        theirs.sendall(frame)
        theirs.close()
        with pytest.raises(ChannelClosed):
            channel.recv(soon())
        channel.close()
    ours, theirs = socket.socketpair()
    channel = WorkerChannel(ours)
    theirs.close()
    with pytest.raises(ChannelClosed):
        for _ in range(100):   # the first writes may still land in the buffer
            channel.send(("lines", 1, BIG))
    channel.close()
    with pytest.raises(ChannelClosed):
        channel.send(("lines", 2, None))
