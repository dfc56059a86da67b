"""The long-running service: one writer, triggers that ask, a runner per source that
reconciles it (a source that is slow or down delays only its own runs).

Start-up order matters: the writer lock first (a second process on the same
SQLite state folder refuses before it binds anything), then HTTP (a standby
replica serves and is ready while it waits for the lease; a webhook it takes is
handed to the writer through the lease database), then the reconciler and the
triggers. Shutdown runs the other way round and lets a running
reconcile finish: its push is the last step and is atomic, so nothing
half-written reaches the remote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from watcher import outward, wiring
from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings
from watcher.daemon.http import DaemonHttp
from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.observers import Observers
from watcher.daemon.run_log import log_failures, log_triggers
from watcher.daemon.runner import RunRequest
from watcher.daemon.source_runners import SourceRunners
from watcher.daemon.status import StatusBoard
from watcher.daemon.status_writer import StatusWriter, policy_news
from watcher.daemon.triggers import FileWatch, ProbeJob, Scheduler, shown_names
from watcher.daemon.writer_ports import SharedLease, WriterLock
from watcher.errors import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    PushRejectedError,
    SourceUnavailableError,
    WatcherError,
    error_kind,
)
from watcher.spine.source_kinds import StatusReporter
from watcher.spine.triggers import FileTrigger, Hint, PollTrigger, Trigger, Verdict, WebhookTrigger

log = logging.getLogger(__name__)

#: Runs in a row a source that lost every push goes again at once; after that it backs off
#: as after any failure (a remote that rejects everything is not hammered).
RACES_IN_A_ROW = 3

#: The writer lease was lost: the run could not go on as the writer.
EXIT_LOST_LEASE = EXIT_UNAVAILABLE


class Daemon:
    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        config: DaemonSettings,
        *,
        dry_run: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._settings, self._credentials, self._config = settings, credentials, config
        self._dry_run = dry_run
        self.metrics = DaemonMetrics()
        self.board = StatusBoard(
            ready_max_age=config.ready_max_age_seconds,
            first_run_bound=config.ready_first_run_seconds,
        )
        self._source_names, self._triggers = wiring.source_triggers(
            settings, credentials, config, env=env
        )
        outward.check_notifications(settings, credentials)  # before anything starts
        self._stop = threading.Event()
        self._lost_lease = False
        #: By source: runs in a row that lost every push to another writer.
        self._races: dict[str, int] = {}
        self._runners: SourceRunners | None = None
        self._reporters: dict[str, StatusReporter] = {}
        self._scheduler: Scheduler | None = None
        self._status: StatusWriter | None = None
        #: Notifications, the stage figures, Argo CD health (opened as the writer).
        self._observers = Observers(
            settings, credentials, self.metrics, self.board, dry_run=dry_run
        )

    # -- control ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag the main loop waits on."""
        self._stop.set()

    def ask(
        self,
        reason: str,
        observed_at: float | None = None,
        *,
        sources: tuple[str, ...] = (),
        hint: Hint | None = None,
    ) -> None:
        """What every trigger calls (``sources``: whose runs; none: every source's; ``hint``:
        what to read again of them); ignored while this replica is not the writer."""
        runners = self._runners
        if runners is None:
            return
        self.metrics.triggers.labels(reason).inc()
        log.debug("reconcile requested by %s", reason)
        runners.ask(reason, observed_at, sources=sources, hint=hint)

    # -- main ---------------------------------------------------------------------------

    def run(self) -> int:
        config = self._config
        lock: WriterLock = wiring.writer_lock(
            self._settings,
            config,
            role="run",
            login=self._credentials.url_login("state.database_url"),
        )
        with contextlib.ExitStack() as stack:
            if not isinstance(lock, SharedLease):
                lock.acquire_or_refuse()  # a second process on the state folder: refused
            stack.callback(lock.release)
            http = DaemonHttp(
                config.listen_address,
                metrics=self.metrics,
                board=self.board,
                webhooks=[t for t in self._triggers if isinstance(t, WebhookTrigger)],
                max_body=config.webhook_max_body_bytes,
                on_webhook=lambda hook, verdict: self._on_webhook(lock, hook, verdict),
            )
            http.start()
            stack.callback(http.stop)
            if isinstance(lock, SharedLease) and not self._wait_for_lease(lock):
                return EXIT_OK
            self.board.became_writer(lock.holder)
            self.metrics.writer.set(1)
            if isinstance(lock, SharedLease):
                self._start_renewer(lock)
            listener = self._observers.open(stack)
            reconcile = stack.enter_context(
                wiring.open_reconciler(self._settings, self._credentials, listener=listener)
            )
            abandoned = self._serve(reconcile, lock)
            if abandoned:
                # The reconcile thread still uses the adapters: leave them to process exit.
                stack.pop_all()
                http.stop()
                lock.release()
        return EXIT_LOST_LEASE if self._lost_lease else EXIT_OK

    def _on_webhook(
        self, lock: WriterLock, hook: WebhookTrigger, verdict: Verdict
    ) -> Verdict | None:
        """The writer reconciles what the delivery names; a standby leaves a mark that the
        writer picks up when it next renews the lease (within ``lock_renew_seconds``).
        A delivery naming only models no source here selects (another shard's) asks for
        nothing, and its answer says so."""
        sent_at = verdict.timestamp
        asks = hook.asks(verdict.hint)
        if not asks and verdict.hint is not None:
            log.debug("webhook: no source here selects %s", shown_names(verdict.hint))
            return dataclasses.replace(verdict, message="no source here selects the model it names")
        if self._runners is not None or not isinstance(lock, SharedLease):
            for sources, hint in asks:
                self.ask("webhook", sent_at, sources=sources, hint=hint)
        elif lock.request_reconcile(sent_at):
            log.info("standby: webhook handed to the writer through the state database")
        return None

    def _wait_for_lease(self, lease: SharedLease) -> bool:
        """Standby until the lease is ours; False when asked to stop first."""
        announced = ""
        while not self._stop.is_set():
            if lease.try_acquire():
                self.board.standby_problem = ""
                return True
            self.board.standby_problem = lease.last_error
            holder = lease.describe_holder()
            self.board.writer_detail = f"waiting for the writer lease held by {holder}"
            if holder != announced:
                log.info("standby: the writer lease is held by %s", holder)
                announced = holder
            self._stop.wait(self._config.lock_renew_seconds)
        return False

    def _start_renewer(self, lease: SharedLease) -> None:
        def renew() -> None:
            while not self._stop.wait(self._config.lock_renew_seconds):
                handed_over = lease.take_reconcile_request() if lease.valid() else None
                if handed_over is not None:
                    self.ask("webhook-handoff", handed_over)
                if not lease.renew():
                    log.error(
                        "lost the writer lease to %s; stopping so that only one replica writes",
                        lease.describe_holder(),
                    )
                    self._lost_lease = True
                    self.board.writer = False
                    self.metrics.writer.set(0)
                    self._stop.set()
                    return

        threading.Thread(target=renew, name="lease-renewer", daemon=True).start()

    def _serve(self, reconcile: wiring.ReconcileFn, lock: WriterLock) -> bool:
        """Run triggers and the runner until stopped; True if a reconcile had to be abandoned."""
        config = self._config
        runners = SourceRunners(
            self._source_names,
            lambda source, request: self._job(reconcile, lock, source, request),
            (config.backoff_min_seconds, config.backoff_max_seconds),
        )
        self._runners = runners
        scheduler = self._scheduler = Scheduler()
        watches: list[FileWatch] = []
        closers: list[Any] = []
        probes: dict[str, list[ProbeJob]] = {}
        try:
            scheduler.every(config.resync_interval_seconds, "resync", lambda: self.ask("resync"))
            for trigger in self._triggers:
                self._add_trigger(trigger, scheduler, watches, closers, probes)
            self._open_reporters(closers)
            self._observers.start(self._reporters)
            runners.start()
            self._start_up(probes)
            scheduler.start()
            for watch in watches:
                watch.start()
            log.info(
                "gitops-watcher is running (resync every %.0f s%s)",
                config.resync_interval_seconds,
                ", dry run" if self._dry_run else "",
            )
            log_triggers(self._source_names, self._triggers, config)
            while not self._stop.wait(0.5):
                pass
            log.info("stopping: no new reconciles; waiting for the running one to finish")
        finally:
            scheduler.stop()
            for watch in watches:
                watch.stop()
            finished = runners.stop(config.shutdown_grace_seconds)
            self._observers.stop()
            if self._status is not None:
                self._status.shutdown(wait=finished)
            for close in closers:
                with contextlib.suppress(Exception):
                    close()
        if not finished:
            log.warning(
                "the running reconcile did not finish within %.0f s; abandoning it "
                "(nothing is pushed half-way; the next start carries on)",
                config.shutdown_grace_seconds,
            )
        else:
            log.info("stopped cleanly")
        return not finished

    def _add_trigger(
        self,
        trigger: Trigger,
        scheduler: Scheduler,
        watches: list[FileWatch],
        closers: list[Any],
        probes: dict[str, list[ProbeJob]],
    ) -> None:
        """Run one trigger a source offers (webhook routes are the HTTP server's); a change
        probe takes its baseline in ``_start_up``."""
        def ask(reason: str, observed_at: float | None, hint: Hint | None) -> None:
            self.ask(reason, observed_at, sources=(trigger.source,), hint=hint)

        if isinstance(trigger, FileTrigger):
            watches.append(FileWatch(trigger, self._config.watch_debounce_seconds, ask))
        elif isinstance(trigger, PollTrigger):
            closers.append(trigger.close)
            job = ProbeJob(trigger, ask, prime=False)
            probes.setdefault(trigger.source, []).append(job)
            scheduler.every(trigger.interval_seconds, f"probe-{trigger.source}", job)

    def _start_up(self, probes: Mapping[str, list[ProbeJob]]) -> None:
        """Each source's startup reconcile, once its change probes took their baseline: on a
        thread per source, so a registry that hangs delays only its own source's start."""
        for name in self._source_names:
            jobs = probes.get(name, [])
            if not jobs:
                self.ask("startup", sources=(name,))
                continue

            def begin(name: str = name, jobs: list[ProbeJob] = jobs) -> None:
                for job in jobs:
                    job.prime()
                self.ask("startup", sources=(name,))

            threading.Thread(target=begin, name=f"start-{name}", daemon=True).start()

    def _open_reporters(self, closers: list[Any]) -> None:
        """Status write-back, when on: one reporter per source that can take it."""
        self._reporters = wiring.status_reporters(self._settings, self._credentials, self._config)
        for reporter in self._reporters.values():
            closers.append(reporter.close)
        self._status = StatusWriter(self._reporters, self.metrics)

    # -- one reconcile ------------------------------------------------------------------

    def _job(
        self,
        reconcile: wiring.ReconcileFn,
        lock: WriterLock,
        source: str,
        request: RunRequest,
    ) -> bool:
        """One reconcile of ``source`` (of what the request's hint names, if it names any)."""
        if not lock.valid():
            log.warning("skipping a reconcile: this replica is not sure it still holds the lease")
            return True
        self.metrics.running.set(self.board.run_started())
        started = time.time()
        hints = {source: request.hint} if request.hint is not None else None
        try:
            result = reconcile(self._dry_run, sources=(source,), hints=hints)
        except WatcherError as exc:
            if isinstance(exc, PushRejectedError) and self._go_again(source, request):
                return True
            kind = error_kind(exc)
            log.error("reconcile could not complete (%s error): %s", kind, exc)
            unread = (source,) if isinstance(exc, SourceUnavailableError) else ()
            self.metrics.observe_failure(
                kind, time.time() - started, unread=unread if unread else None
            )
            self.board.run_failed(str(exc), unread)
            self.metrics.running.set(self.board.running)
            return False
        except Exception as exc:
            log.exception("reconcile crashed")
            self.metrics.observe_failure("unexpected", time.time() - started)
            self.board.run_failed(f"unexpected {type(exc).__name__}")
            self.metrics.running.set(self.board.running)
            return False
        self._races.pop(source, None)
        news = policy_news(self.board.states(), result)
        self.board.run_finished(result)
        self.metrics.running.set(self.board.running)
        self._observers.observe(result, request)
        self._wake_at(result.get("wake_at"), source)
        log_failures(result)
        counts: dict[str, int] = {}
        for release in result.get("releases") or ():
            counts[str(release.get("state"))] = counts.get(str(release.get("state")), 0) + 1
        log.info(
            "reconcile %s of %s done in %.2f s (asked by %s): %s%s",
            str(result.get("reconcile_id", ""))[:12],
            _what(source, request.hint),
            float(result["finished_at"]) - float(result["started_at"]),
            ", ".join(request.reasons),
            ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing managed",
            "; pushed" if result.get("pushed") else "",
        )
        if self._status is not None:
            self._status.after(result, news)
        return True

    def _go_again(self, source: str, request: RunRequest) -> bool:
        """Another writer (a shard, a replica's last push, a person) pushed first on every
        attempt: contention, not an outage. The source reconciles again at once, up to
        ``RACES_IN_A_ROW`` times, instead of backing off as after a failure."""
        lost = self._races.get(source, 0) + 1
        if lost > RACES_IN_A_ROW:
            self._races.pop(source, None)
            return False
        self._races[source] = lost
        log.info(
            "source %r: another writer pushed first on every attempt (%d run(s) in a row); "
            "reconciling again at once", source, lost,
        )  # fmt: skip
        self.board.run_abandoned()
        self.metrics.running.set(self.board.running)
        self.ask("push-race", request.first_observed_at, sources=(source,), hint=request.hint)
        return True

    def _wake_at(self, when: Any, source: str) -> None:
        """A release waits for its soak: reconcile its source again when it ends, not at
        the resync."""
        scheduler = self._scheduler
        if scheduler is None or not isinstance(when, int | float):
            return
        scheduler.once(float(when), f"soak-{source}", lambda: self.ask("soak", sources=(source,)))


def _what(source: str, hint: Hint | None) -> str:
    """``source 'mlflow'`` or ``source 'mlflow' (2 named)`` for the log."""
    return f"source {source!r}" + (f" ({len(hint)} named)" if hint is not None else "")
