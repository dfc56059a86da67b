"""The long-running service: one writer, triggers that ask, a runner that reconciles.

Start-up order matters: the writer lock first (a second process on the same
SQLite state folder refuses before it binds anything), then HTTP (a standby
replica answers /healthz while it waits for the lease), then the reconciler
and the triggers. Shutdown runs the other way round and lets a running
reconcile finish: its push is the last step and is atomic, so nothing
half-written reaches the remote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher.adapters.writer_lock import DatabaseLease, FileWriterLock, make_writer_lock
from watcher.config.daemon_settings import DaemonSettings
from watcher.config.settings import Credentials, Settings
from watcher.core.urls import redact_url
from watcher.daemon import spine
from watcher.daemon.http import DaemonHttp
from watcher.daemon.metrics import DaemonMetrics
from watcher.daemon.runner import Backoff, RunRequest, SingleFlightRunner
from watcher.daemon.status import StatusBoard
from watcher.daemon.triggers import DatabaseWatch, ProbeJob, Scheduler, sqlite_path
from watcher.daemon.webhook import SECRET_ENV, WebhookVerifier
from watcher.errors import EXIT_OK, EXIT_UNAVAILABLE, WatcherError, error_kind
from watcher.sources.mlflow.registry_probe import RegistryProbe
from watcher.sources.mlflow.registry_status import RegistryStatusWriter

log = logging.getLogger(__name__)

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
        env = os.environ if env is None else env
        self.metrics = DaemonMetrics()
        self.board = StatusBoard(
            ready_max_age=config.ready_max_age_seconds,
            first_run_bound=config.ready_first_run_seconds,
        )
        self._verifier = WebhookVerifier(
            env.get(SECRET_ENV) or None,
            max_age_seconds=config.webhook_max_age_seconds,
            replay_window=config.webhook_replay_window,
        )
        self._stop = threading.Event()
        self._lost_lease = False
        self._runner: SingleFlightRunner | None = None
        self._status_writers: dict[str, RegistryStatusWriter] = {}
        self._status_pool: ThreadPoolExecutor | None = None

    # -- control ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets a flag the main loop waits on."""
        self._stop.set()

    def ask(self, reason: str, observed_at: float | None = None) -> None:
        """What every trigger calls; ignored while this replica is not the writer."""
        runner = self._runner
        if runner is None:
            return
        self.metrics.triggers.labels(reason).inc()
        log.debug("reconcile requested by %s", reason)
        runner.request(reason, observed_at)

    # -- main ---------------------------------------------------------------------------

    def run(self) -> int:
        config = self._config
        lock = make_writer_lock(
            self._settings.state_database_url,
            Path(self._settings.state_dir),
            takeover_seconds=config.lock_takeover_seconds,
            renew_seconds=config.lock_renew_seconds,
            login=self._credentials.url_login("state.database_url"),
        )
        with contextlib.ExitStack() as stack:
            if isinstance(lock, FileWriterLock):
                lock.acquire_or_refuse()
            stack.callback(lock.release)
            http = DaemonHttp(
                config.listen_address,
                metrics=self.metrics,
                board=self.board,
                verifier=self._verifier,
                max_body=config.webhook_max_body_bytes,
                on_webhook=lambda event, sent_at: self.ask("webhook", sent_at),
            )
            http.start()
            stack.callback(http.stop)
            if not self._verifier.enabled:
                log.info("webhooks are off (%s is not set)", SECRET_ENV)
            if isinstance(lock, DatabaseLease) and not self._wait_for_lease(lock):
                return EXIT_OK
            self.board.writer, self.board.writer_detail = True, lock.holder
            self.metrics.writer.set(1)
            if isinstance(lock, DatabaseLease):
                self._start_renewer(lock)
            reconcile = stack.enter_context(
                spine.open_reconciler(self._settings, self._credentials)
            )
            abandoned = self._serve(reconcile, lock)
            if abandoned:
                # The reconcile thread still uses the adapters: leave them to process exit.
                stack.pop_all()
                http.stop()
                lock.release()
        return EXIT_LOST_LEASE if self._lost_lease else EXIT_OK

    def _wait_for_lease(self, lease: DatabaseLease) -> bool:
        """Standby until the lease is ours; False when asked to stop first."""
        announced = ""
        while not self._stop.is_set():
            if lease.try_acquire():
                return True
            holder = lease.describe_holder()
            self.board.writer_detail = f"waiting for the writer lease held by {holder}"
            if holder != announced:
                log.info("standby: the writer lease is held by %s", holder)
                announced = holder
            self._stop.wait(self._config.lock_renew_seconds)
        return False

    def _start_renewer(self, lease: DatabaseLease) -> None:
        def renew() -> None:
            while not self._stop.wait(self._config.lock_renew_seconds):
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

    def _serve(self, reconcile: spine.ReconcileFn, lock: FileWriterLock | DatabaseLease) -> bool:
        """Run triggers and the runner until stopped; True if a reconcile had to be abandoned."""
        config = self._config
        runner = SingleFlightRunner(
            lambda request: self._job(reconcile, lock, request),
            Backoff(config.backoff_min_seconds, config.backoff_max_seconds),
        )
        self._runner = runner
        scheduler = Scheduler()
        watches: list[DatabaseWatch] = []
        closers: list[Any] = []
        try:
            scheduler.every(config.resync_interval_seconds, "resync", lambda: self.ask("resync"))
            for endpoint in spine.mlflow_endpoints(self._settings, self._credentials):
                self._add_endpoint_triggers(endpoint, scheduler, watches, closers)
            runner.start()
            self.ask("startup")
            scheduler.start()
            for watch in watches:
                watch.start()
            log.info(
                "gitops-watcher is running (resync every %.0f s%s)",
                config.resync_interval_seconds,
                ", dry run" if self._dry_run else "",
            )
            while not self._stop.wait(0.5):
                pass
            log.info("stopping: no new reconciles; waiting for the running one to finish")
        finally:
            scheduler.stop()
            for watch in watches:
                watch.stop()
            finished = runner.stop(config.shutdown_grace_seconds)
            if self._status_pool is not None:
                self._status_pool.shutdown(wait=finished, cancel_futures=True)
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

    def _add_endpoint_triggers(
        self,
        endpoint: spine.Endpoint,
        scheduler: Scheduler,
        watches: list[DatabaseWatch],
        closers: list[Any],
    ) -> None:
        config = self._config
        registry = endpoint.registry
        http_uri = registry.tracking_uri.startswith(("http://", "https://"))
        if registry.resolved_kind == "database" and config.watch_database:
            path = sqlite_path(registry.resolved_database_uri)
            if path is not None:
                watches.append(DatabaseWatch(path, config.watch_debounce_seconds, self.ask))
        if registry.resolved_kind == "rest" and config.probe_interval_seconds > 0:
            probe = RegistryProbe(
                registry,
                endpoint.credentials,
                ignore_tag_prefix=config.status_writeback.tag_prefix,
            )
            closers.append(probe.close)
            scheduler.every(
                config.probe_interval_seconds,
                f"probe-{endpoint.name}",
                ProbeJob(endpoint.name, probe.changed, self.ask),
            )
            log.info(
                "probing %s every %.1f s", redact_url(registry.tracking_uri),
                config.probe_interval_seconds,
            )  # fmt: skip
        if config.status_writeback.enabled:
            if http_uri:
                writer = RegistryStatusWriter(registry, endpoint.credentials)
                closers.append(writer.close)
                self._status_writers[endpoint.name] = writer
                if self._status_pool is None:
                    self._status_pool = ThreadPoolExecutor(1, thread_name_prefix="status")
            else:
                log.warning(
                    "status write-back needs the registry's REST API; registry %s has no "
                    "http(s) tracking URI, so no status tags are written for it",
                    endpoint.name,
                )

    # -- one reconcile ------------------------------------------------------------------

    def _job(
        self,
        reconcile: spine.ReconcileFn,
        lock: FileWriterLock | DatabaseLease,
        request: RunRequest,
    ) -> bool:
        if not lock.valid():
            log.warning("skipping a reconcile: this replica is not sure it still holds the lease")
            return True
        self.board.run_started()
        self.metrics.running.set(1)
        started = time.time()
        try:
            result = reconcile(self._dry_run)
        except WatcherError as exc:
            kind = error_kind(exc)
            log.error("reconcile could not complete (%s error): %s", kind, exc)
            self.metrics.observe_failure(kind, time.time() - started)
            self.board.run_failed(str(exc))
            return False
        except Exception as exc:
            log.exception("reconcile crashed")
            self.metrics.observe_failure("unexpected", time.time() - started)
            self.board.run_failed(f"unexpected {type(exc).__name__}")
            return False
        finally:
            self.metrics.running.set(0)
        self.metrics.observe(result, request.first_observed_at)
        self.board.run_finished(result)
        _log_failures(result)
        counts: dict[str, int] = {}
        for release in result.get("releases") or ():
            counts[str(release.get("state"))] = counts.get(str(release.get("state")), 0) + 1
        log.info(
            "reconcile %s done in %.2f s (asked by %s): %s%s",
            str(result.get("reconcile_id", ""))[:12],
            float(result["finished_at"]) - float(result["started_at"]),
            ", ".join(request.reasons),
            ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing managed",
            "; pushed" if result.get("pushed") else "",
        )
        if self._status_writers and result.get("pushed") and self._status_pool is not None:
            self._status_pool.submit(self._write_status, result)
        return True

    def _write_status(self, result: dict[str, Any]) -> None:
        """Status tags for every model release this push changed; failures only logged."""
        prefix = self._config.status_writeback.tag_prefix
        updated = datetime.fromtimestamp(float(result["finished_at"]), UTC).isoformat(
            timespec="seconds"
        )
        for release in result.get("releases") or ():
            if release.get("kind") != "model" or release.get("state") not in (
                "deployed",
                "removed",
            ):
                continue
            if not release.get("revision"):
                continue
            writer = self._status_writers.get(str(release.get("source")))
            if writer is None and len(self._status_writers) == 1:
                writer = next(iter(self._status_writers.values()))
            if writer is None:
                continue
            stage = str(release["stage"])
            tags = {
                f"{prefix}{stage}.commit": str(release.get("commit") or ""),
                f"{prefix}{stage}.state": str(release["state"]),
                f"{prefix}{stage}.updated": updated,
            }
            try:
                written = writer.set_tags(str(release["name"]), str(release["revision"]), tags)
            except Exception:  # status must never stop anything
                log.exception("status write-back crashed")
                written = 0
            self.metrics.status_tags.labels("ok").inc(written)
            self.metrics.status_tags.labels("failed").inc(len(tags) - written)


def _log_failures(result: dict[str, Any]) -> None:
    """No one reads a daemon's stdout: what failed goes to the log, once per reconcile."""
    for release in result.get("releases") or ():
        if release.get("state") == "failed":
            log.warning(
                "cannot deploy %s %r in %s (%s): %s",
                release.get("kind"),
                str(release.get("name"))[:80],
                release.get("stage"),
                release.get("error_kind"),
                release.get("error"),
            )
    for problem in result.get("problems") or ():
        log.warning("%s", problem.get("error"))
    for source in result.get("sources") or ():
        if not source.get("ok"):
            log.warning("cannot read source %r: %s", source.get("name"), source.get("error"))

