"""One single-flight runner per source: a source that is slow, hangs or is down delays only
its own reconciles, never another source's promotion.

Each runner has its own backoff. A request names its source (a file event, a probe),
several (a webhook route served by every MLflow source) or none (the resync, the
start-up: every source). Reading and copying run side by side on the runners'
threads; the git checkout's steps take turns inside the reconciler.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from watcher.daemon.runner import Backoff, RunRequest, SingleFlightRunner
from watcher.spine.triggers import Hint

#: ``job(source, request)``: one reconcile of that source; False or raises on failure.
SourceJob = Callable[[str, RunRequest], bool]


class SourceRunners:
    def __init__(self, names: Sequence[str], job: SourceJob, backoff: tuple[float, float]) -> None:
        self._runners = {
            name: SingleFlightRunner(_bound(job, name), Backoff(*backoff), name=f"reconcile-{name}")
            for name in names
        }

    @property
    def names(self) -> list[str]:
        return list(self._runners)

    def start(self) -> None:
        for runner in self._runners.values():
            runner.start()

    def ask(
        self,
        reason: str,
        observed_at: float | None = None,
        *,
        sources: Sequence[str] = (),
        hint: Hint | None = None,
    ) -> None:
        """Ask ``sources`` (none, or none of them known: every source) for a reconcile."""
        chosen = [self._runners[name] for name in sources if name in self._runners]
        for runner in chosen or self._runners.values():
            runner.request(reason, observed_at, hint)

    def stop(self, timeout: float) -> bool:
        """Take no more requests, then wait up to ``timeout`` for every running job; False
        if one is still running."""
        for runner in self._runners.values():
            runner.refuse()
        deadline = time.monotonic() + timeout
        finished = [runner.join(deadline - time.monotonic()) for runner in self._runners.values()]
        return all(finished)


def _bound(job: SourceJob, name: str) -> Callable[[RunRequest], bool]:
    return lambda request: job(name, request)
