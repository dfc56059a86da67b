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
