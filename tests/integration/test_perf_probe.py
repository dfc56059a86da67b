"""The change probe takes its baseline before the startup reconcile reads the registry.

Found by bench/latency.py: a promotion made between the startup read and the
first probe used to become the probe's baseline, so it waited for the resync.
"""

from __future__ import annotations

from watcher.daemon.triggers import ProbeJob
from watcher.errors import RegistryUnavailableError
from watcher.spine.triggers import PollTrigger


class Registry:
    def __init__(self) -> None:
        self.state, self.down = "a", False
        self.last: str | None = None

    def changed(self) -> bool:  # what RegistryProbe.changed does
        if self.down:
            raise RegistryUnavailableError("down")
        previous, self.last = self.last, self.state
        return previous is not None and previous != self.state

    def prime(self) -> None:  # what RegistryProbe.prime does
        self.changed()

    def trigger(self) -> PollTrigger:
        return PollTrigger("r", 2.0, self.changed, self.prime, lambda: None)


def test_a_change_before_the_first_probe_is_seen_by_it() -> None:
    registry, asked = Registry(), []
    job = ProbeJob(registry.trigger(), lambda reason, at, hint: asked.append(reason))
    registry.state = "b"  # promoted after the startup read, before the first probe
    job()
    assert asked == ["probe"]
    job()
    assert asked == ["probe"]  # unchanged since: no more requests


def test_a_registry_down_at_start_asks_once_when_it_answers() -> None:
    registry, asked = Registry(), []
    registry.down = True
    job = ProbeJob(registry.trigger(), lambda reason, at, hint: asked.append(reason))
    job()
    assert asked == []
    registry.down = False
    job()
    assert asked == ["probe"]
    job()
    assert asked == ["probe"]


class SlowRegistry(Registry):
    """A probe that takes ``took`` seconds on a clock the test moves."""

    def __init__(self, clock: list[float], took: float) -> None:
        super().__init__()
        self.clock, self.took, self.calls = clock, took, 0

    def changed(self) -> bool:
        self.calls += 1
        self.clock[0] += self.took
        return super().changed()


def test_a_slow_probe_is_paced_to_a_tenth_of_the_time_and_quick_again_when_it_is() -> None:
    clock = [0.0]
    registry = SlowRegistry(clock, took=1.0)  # a 2 s interval, a probe that takes 1 s
    job = ProbeJob(registry.trigger(), lambda reason, at, hint: None, clock=lambda: clock[0])
    calls = registry.calls
    for _ in range(10):  # the scheduler calls every 2 s
        job()
        clock[0] += 2.0
    # Ten calls over ~21 s; a 1 s probe paced to one per 10 s runs twice, not ten times.
    assert registry.calls - calls == 2
    registry.took = 0.01
    clock[0] += 20.0
    job()
    calls = registry.calls
    for _ in range(5):
        job()
        clock[0] += 2.0
    assert registry.calls - calls == 5
