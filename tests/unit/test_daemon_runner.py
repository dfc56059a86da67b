"""The single-flight runner: one reconcile at a time, bursts coalesce, bounded backoff."""

from __future__ import annotations

import threading
import time

from watcher.daemon.runner import Backoff, RunRequest, SingleFlightRunner


def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_a_burst_during_a_reconcile_coalesces_into_exactly_one_more_and_never_overlaps() -> None:
    release = threading.Event()
    active, overlaps, seen = [0], [0], []

    def job(request: RunRequest) -> bool:
        active[0] += 1
        overlaps[0] = max(overlaps[0], active[0])
        seen.append(request)
        if len(seen) == 1:
            release.wait(5)
        active[0] -= 1
        return True

    runner = SingleFlightRunner(job, Backoff(0.01, 0.1))
    runner.start()
    runner.request("startup", 100.0)
    wait_until(lambda: runner.busy)
    for i in range(50):
        runner.request("webhook" if i % 2 else "watch", 200.0 + i)
    release.set()
    wait_until(lambda: runner.runs == 2)
    time.sleep(0.1)
    assert runner.runs == 2 and overlaps[0] == 1
    assert seen[0].reasons == ("startup",)
    assert set(seen[1].reasons) == {"webhook", "watch"}
    assert seen[1].first_observed_at == 200.0  # the earliest observation of the burst
    assert runner.stop(2)


def test_failures_back_off_doubling_up_to_the_bound_and_success_resets() -> None:
    backoff = Backoff(1, 8)
    assert [backoff.failed() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.failed() == 1


def test_a_failed_run_is_retried_by_itself_after_the_backoff() -> None:
    times: list[float] = []

    def job(_request: RunRequest) -> bool:
        times.append(time.monotonic())
        if len(times) < 3:
            raise RuntimeError("registry down")
        return True

    runner = SingleFlightRunner(job, Backoff(0.1, 0.15))
    runner.start()
    runner.request("startup")
    wait_until(lambda: runner.runs == 3)
    time.sleep(0.3)
    assert runner.runs == 3  # no retries after the success
    assert times[1] - times[0] >= 0.09 and times[2] - times[1] >= 0.14
    runner.stop(2)


def test_requests_during_backoff_wait_for_it() -> None:
    runs: list[float] = []

    def job(_request: RunRequest) -> bool:
        runs.append(time.monotonic())
        return len(runs) > 1

    runner = SingleFlightRunner(job, Backoff(0.3, 0.3))
    runner.start()
    runner.request("startup")
    wait_until(lambda: runner.runs == 1)
    for _ in range(10):
        runner.request("webhook")
    wait_until(lambda: runner.runs == 2)
    assert runs[1] - runs[0] >= 0.29
    time.sleep(0.4)
    assert runner.runs == 2
    runner.stop(2)


def test_stop_waits_for_the_running_job_and_refuses_new_requests() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[bool] = []

    def job(_request: RunRequest) -> bool:
        started.set()
        release.wait(5)
        done.append(True)
        return True

    runner = SingleFlightRunner(job, Backoff(0.01, 0.1))
    runner.start()
    runner.request("startup")
    assert started.wait(2)
    runner.request("resync")
    assert runner.stop(0.05) is False  # still running
    release.set()
    assert runner.stop(2) is True
    runner.request("late")
    time.sleep(0.05)
    assert done == [True] and runner.runs == 1
