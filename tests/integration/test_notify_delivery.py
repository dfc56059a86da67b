"""The delivery queue against a real HTTP receiver on 127.0.0.1 (tests/servers/receiver.py):
retries with a backoff that starts near 1 s on 5xx, 429 and errors; a 4xx refusal dropped at
once; a receiver that stays down given up on after ``give_up_seconds``; a full queue drops
new deliveries; a stalled receiver never blocks the caller; every outcome counted."""

from __future__ import annotations

import itertools
import time
from collections import Counter

from tests.servers.mlflow_server import free_port
from tests.servers.receiver import Receiver, start_receiver
from watcher.adapters.notify_delivery import DeliveryQueue, Target
from watcher.core.notify_formats import Request


def requests_of(count: int) -> list[Request]:
    return [Request(b'{"n": %d}' % n, {"Content-Type": "application/json"}, "deployed", str(n))
            for n in range(count)]  # fmt: skip


def target(url: str, **overrides: float) -> Target:
    settings = {"timeout_seconds": 5.0, "give_up_seconds": 30.0, "queue_size": 100, **overrides}
    return Target("test", url, settings["timeout_seconds"], settings["give_up_seconds"],
                  int(settings["queue_size"]))  # fmt: skip


def test_5xx_and_429_are_retried_with_a_backoff_from_about_one_second() -> None:
    receiver = start_receiver(Receiver(statuses=[503, 429], retry_after="0"))
    outcomes: Counter[str] = Counter()
    queue = DeliveryQueue(target(receiver.url), lambda _n, o: outcomes.update([o]))
    try:
        queue.put(requests_of(1)[0])
        assert queue.flush(15)
        times = [d.at for d in receiver.requests]
        assert [d.status for d in receiver.requests] == [503, 429, 200]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert 0.8 <= gaps[0] < 1.8 and 1.8 <= gaps[1] < 3.5, gaps
        assert outcomes == {"retried": 2, "sent": 1}
    finally:
        queue.close()
        receiver.stop()


def test_a_refusal_is_dropped_at_once_and_the_next_delivery_goes_on() -> None:
    receiver = start_receiver(Receiver(statuses=[400]))
    outcomes: Counter[str] = Counter()
    queue = DeliveryQueue(target(receiver.url), lambda _n, o: outcomes.update([o]))
    try:
        for item in requests_of(2):
            queue.put(item)
        assert queue.flush(5)
        assert [d.status for d in receiver.requests] == [400, 200]
        assert outcomes == {"rejected": 1, "sent": 1}
    finally:
        queue.close()
        receiver.stop()


def test_a_receiver_that_stays_gone_is_given_up_on_and_counted() -> None:
    outcomes: Counter[str] = Counter()
    gone = f"http://127.0.0.1:{free_port()}/hook"
    queue = DeliveryQueue(target(gone, give_up_seconds=2.5), lambda _n, o: outcomes.update([o]))
    try:
        started = time.monotonic()
        for item in requests_of(2):
            assert queue.put(item)
        assert time.monotonic() - started < 0.1  # putting never waits for the receiver
        assert queue.flush(15)
        assert outcomes["dropped"] == 2 and outcomes["sent"] == 0
        assert time.monotonic() - started < 10
    finally:
        queue.close()


def test_a_stalled_receiver_fills_the_queue_and_new_deliveries_are_dropped() -> None:
    receiver = start_receiver(Receiver(delay_seconds=3))
    outcomes: Counter[str] = Counter()
    queue = DeliveryQueue(target(receiver.url, queue_size=3), lambda _n, o: outcomes.update([o]))
    try:
        started = time.monotonic()
        accepted = [queue.put(item) for item in requests_of(6)]
        assert time.monotonic() - started < 0.5
        assert accepted.count(True) >= 3 and accepted[-1] is False
        assert outcomes["dropped"] == accepted.count(False)
        assert not queue.flush(0.5)  # bounded: it does not wait for the stalled receiver
    finally:
        queue.close()
        receiver.stop()
