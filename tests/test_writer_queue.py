"""SQLite's write transactions of one process take turns in arrival order (kura.db.WriterQueue)."""

from __future__ import annotations

import threading
import time

import pytest

from kura.db import WriterQueue


def test_a_waiting_writer_gets_its_turn_before_the_holder_takes_it_again() -> None:
    queue = WriterQueue()
    order: list[str] = []
    stop = threading.Event()

    def busy() -> None:  # commits back to back, as a stream of stock changes does
        while not stop.is_set():
            queue.acquire()
            order.append("busy")
            time.sleep(0.002)
            queue.release()

    thread = threading.Thread(target=busy)
    thread.start()
    time.sleep(0.02)
    started = time.monotonic()
    queue.acquire()  # the pusher recording its push
    waited = time.monotonic() - started
    order.append("pusher")
    queue.release()
    stop.set()
    thread.join()
    assert waited < 0.05  # one turn of the busy writer, not an unbounded wait
    assert "pusher" in order


def test_the_holder_may_enter_again_and_a_waiter_gives_up_after_its_timeout() -> None:
    queue = WriterQueue(timeout_s=0.1)
    queue.acquire()
    queue.acquire()  # re-entry by the same thread
    queue.release()
    failed: list[BaseException] = []

    def waiter() -> None:
        try:
            queue.acquire()
        except TimeoutError as exc:
            failed.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    t.join()
    assert failed and "database is busy" in str(failed[0])
    queue.release()
    done = threading.Event()

    def later() -> None:  # the abandoned ticket does not block the next writer
        queue.acquire()
        queue.release()
        done.set()

    t = threading.Thread(target=later)
    t.start()
    t.join(2)
    assert done.is_set()


@pytest.mark.parametrize("n", [4])
def test_writers_are_served_in_arrival_order(n: int) -> None:
    queue = WriterQueue()
    queue.acquire()
    served: list[int] = []
    threads = []
    for i in range(n):
        t = threading.Thread(target=lambda i=i: (queue.acquire(), served.append(i), queue.release()))
        t.start()
        threads.append(t)
        time.sleep(0.02)  # each arrives after the one before
    queue.release()
    for t in threads:
        t.join(2)
    assert served == list(range(n))
