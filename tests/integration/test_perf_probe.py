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


def test_a_slow_probe_is_paced_to_half_the_time_a_failing_one_is_not() -> None:
    clock = [0.0]
    registry = SlowRegistry(clock, took=0.9)  # a 2 s interval; under half of it: not paced
    job = ProbeJob(registry.trigger(), lambda reason, at, hint: None, clock=lambda: clock[0])

    def probes(calls: int) -> int:
        before = registry.calls
        for _ in range(calls):  # the scheduler calls every 2 s
            job()
            clock[0] += 2.0
        return registry.calls - before

    assert probes(10) == 10
    registry.took = 3.0  # over half the interval: the next no sooner than 6 s after
    assert probes(10) == 5  # a 3 s probe, then the call 2 s later is skipped: 3 s in 7
    registry.down = True  # a registry that hangs until its timeout, then fails
    clock[0] += 10.0
    assert probes(5) == 5  # a failure paces nothing: the first answer after it comes soon
    registry.down, registry.took = False, 0.01
    clock[0] += 10.0
    assert probes(5) == 5  # quick again: every call
