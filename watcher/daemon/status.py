"""What the daemon knows now: per (source, name, stage) state, and readiness.

Built from the reconcile result dicts: each result replaces what it speaks for
(its sources; of a hinted run, the names it read again) and leaves the rest as
the runs that spoke for it left it, plus what it carries over (the commit of an
unchanged release, since when a state or an error holds), so it stays as large
as the registry.

Readiness means "serves and can take over": a standby that can reach the lease
database is ready (a rolling update waits for the new pod's readiness, and the
new pod is a standby until the old writer stops); the writer is ready while its
reconciles complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from watcher.daemon.deployments import StageStats

Key = tuple[str, str, str]

#: States in which the folder runs what it ran before (see watcher.core.result.ReleaseState).
CARRIED_STATES = frozenset(
    {"unchanged", "planned", "pr-open", "held", "gated", "waiting", "kept", "blocked", "failed"}
)


class StatusBoard:
    def __init__(
        self,
        *,
        ready_max_age: float,
        first_run_bound: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._ready_max_age = ready_max_age
        self._first_run_bound = first_run_bound
        self._lock = threading.Lock()
        self._entries: dict[Key, dict[str, Any]] = {}
        self._sources: list[dict[str, Any]] = []
        self._problems: list[dict[str, Any]] = []
        #: The last week of deployments per stage: ``stages`` in the snapshot.
        self.stats = StageStats(clock)
        #: What Argo CD says of each deployed release, by key (with argocd.api_url).
        self._argocd: dict[Key, dict[str, Any]] = {}
        #: Why the last read of Argo CD failed ("" when it did not, or is not configured).
        self.argocd_problem = ""
        self.started_at = clock()
        self.last_result: dict[str, Any] | None = None
        self.last_success_at: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.running_since: float | None = None
        self.writer = False
        self.writer_detail = ""
        #: Why a standby could not take over now ("" when it could): its lease database fails.
        self.standby_problem = ""
        self.writer_since: float | None = None
        #: Reconciles that could not complete since the last one that did (or since start).
        self.failures_in_a_row = 0
        #: Reconciles running now (one per source at most).
        self.running = 0

    def became_writer(self, holder: str) -> None:
        """The first-reconcile grace runs from here: a standby may have waited for hours."""
        with self._lock:
            self.writer, self.writer_detail = True, holder
            self.writer_since = self._clock()

    # -- updates from the runner --------------------------------------------------------

    def run_started(self) -> int:
        """A reconcile begins; how many run now."""
        with self._lock:
            self.running += 1
            if self.running_since is None:
                self.running_since = self._clock()
            return self.running

    def _run_ended(self) -> None:
        self.running = max(0, self.running - 1)
        if not self.running:
            self.running_since = None

    def run_abandoned(self) -> None:
        """A run that goes again at once (it lost a push race): neither a failure nor a
        result."""
        with self._lock:
            self._run_ended()

    def run_failed(self, error: str, unread: tuple[str, ...] = ()) -> None:
        """A reconcile could not complete (``unread``: because these sources could not be
        read: ``sources`` says so for each)."""
        with self._lock:
            self._run_ended()
            self.last_error, self.last_error_at = error, self._clock()
            self.failures_in_a_row += 1
            if unread:
                kept = [s for s in self._sources if s.get("name") not in unread]
                down = [{"name": name, "ok": False, "error": error} for name in unread]
                self._sources = sorted(kept + down, key=lambda source: str(source.get("name")))

    def run_finished(self, result: dict[str, Any]) -> None:
        """What ``result`` speaks for replaces what the board had of it."""
        now = self._clock()
        scope = Scope(result.get("scope"))
        sources = list(result.get("sources") or ())
        with self._lock:
            self._run_ended()
            self.last_result = {
                k: v for k, v in result.items() if k not in ("releases", "changes")
            }
            self.last_success_at = float(result.get("finished_at") or now)
            self.last_error = None
            self.failures_in_a_row = 0
            named = {str(source.get("name")) for source in sources}
            self._sources = [s for s in self._sources if s.get("name") not in named] + sources
            self._sources.sort(key=lambda source: str(source.get("name")))
            self._problems = [p for p in self._problems if not scope.speaks_for_problem(p)]
            self._problems += list(result.get("problems") or ())
            entries = {k: e for k, e in self._entries.items() if not scope.speaks_for(*k)}
            for release in result.get("releases") or ():
                key = (str(release["source"]), str(release["name"]), str(release["stage"]))
                if result.get("pushed"):
                    release = {**release, "pushed_at": result.get("finished_at")}
                entries[key] = self._merge(self._entries.get(key), release, now)
            self._entries = entries

    @staticmethod
    def _merge(old: dict[str, Any] | None, release: dict[str, Any], now: float) -> dict[str, Any]:
        state = str(release.get("state"))
        old = old or {}
        # States that change nothing keep what was deployed before (and its commit); the
        # state's own "since" carries over.
        carried = state in CARRIED_STATES
        entry = {
            "source": release["source"],
            "kind": release.get("kind"),
            "name": release["name"],
            "stage": release["stage"],
            "folder": release.get("folder") or old.get("folder"),
            "revision": release.get("revision") or (old.get("revision") if carried else None),
            "commit": release.get("commit") or (old.get("commit") if carried else None),
            "state": state,
            "since": old["since"] if old.get("state") == state else now,
            "last_error": release.get("error"),
            "last_error_kind": release.get("error_kind"),
            "error_since": None,
            # Deployed and unchanged, but its copy could not be re-checked (store down).
            "warning": release.get("warning"),
            "url": release.get("url") or (old.get("url") if carried else ""),
            # When the push that deployed it finished (None: before this process started).
            "pushed_at": old.get("pushed_at") if carried else None,
            "updated_at": now,
            # Why it is in this state (a pull request closed without merging …), its pull
            # request while one is open or just merged, and a merge's lead time.
            "reason": release.get("reason") or "",
            "pull_request": release.get("pull_request"),
            "lead_seconds": release.get("lead_seconds"),
            # For held, gated and waiting: the revision the registry selects, not applied.
            "candidate": release.get("candidate"),
        }
        if state == "deployed" and release.get("commit"):
            entry["pushed_at"] = float(release.get("pushed_at") or now)
        if state == "unchanged" and old.get("state") == "deployed":
            entry["state"], entry["since"] = "deployed", old["since"]
        if release.get("error"):
            entry["error_since"] = old.get("error_since") or now
        return entry

    def counts(self) -> dict[tuple[str, str], int]:
        """Releases by (source, state), over every source's last word."""
        with self._lock:
            found: dict[tuple[str, str], int] = {}
            for (source, _name, _stage), entry in self._entries.items():
                key = (source, str(entry.get("state")))
                found[key] = found.get(key, 0) + 1
            return found

    def states(self) -> dict[Key, str]:
        """Each release's state as the last reconcile left it."""
        with self._lock:
            return {key: str(entry.get("state")) for key, entry in self._entries.items()}

    # -- reads for the endpoints --------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        now = self._clock()
        with self._lock:
            if not self.writer:
                detail = self.writer_detail or "not the writer"
                if self.standby_problem:
                    return False, f"standby that cannot take over: {self.standby_problem}"
                return True, f"standby, ready to take over ({detail})"
            if (
                self.last_success_at is not None
                and now - self.last_success_at <= self._ready_max_age
            ):
                return True, "last reconcile completed recently"
            if self.last_success_at is None and self.last_error:
                return False, (
                    f"no reconcile has completed since this replica became the writer: "
                    f"{self.failures_in_a_row} attempt(s) failed, the last with: {self.last_error}"
                )
            since = self.started_at if self.writer_since is None else self.writer_since
            if self.last_success_at is None and now - since <= self._first_run_bound:
                return True, "first reconcile under way"
            if self.last_error:
                return False, f"reconcile failing: {self.last_error}"
            return False, "no reconcile completed recently"

    def deployed(self) -> list[dict[str, Any]]:
        """Copies of the entries that run something now (deployed or unchanged)."""
        with self._lock:
            return [
                dict(entry)
                for entry in self._entries.values()
                if entry["state"] in ("deployed", "unchanged") and entry.get("folder")
            ]

    def set_argocd(self, found: dict[Key, dict[str, Any]]) -> None:
        """What Argo CD said of each deployed release at the last read."""
        with self._lock:
            self._argocd = dict(found)

    def snapshot(self) -> dict[str, Any]:
        ready, why = self.ready()
        with self._lock:
            return {
                "role": "writer" if self.writer else "standby",
                "writer": self.writer,
                "writer_detail": self.writer_detail,
                "ready": ready,
                "ready_reason": why,
                "running_since": self.running_since,
                "last_success_at": self.last_success_at,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
                "last_reconcile": self.last_result,
                "sources": self._sources,
                "problems": self._problems,
                "releases": [self._with_argocd(k) for k in sorted(self._entries)],
                "stages": self.stats.summary(),
                "argocd_problem": self.argocd_problem,
            }

    def _with_argocd(self, key: Key) -> dict[str, Any]:
        entry = self._entries[key]
        found = self._argocd.get(key)
        return {**entry, "argocd": found} if found is not None else entry


class Scope:
    """What one result speaks for (its ``scope``): every source; some sources; of a hinted
    run's source, only the names it read again and the problems in their folders."""

    def __init__(self, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        listed = data.get("sources")
        self.sources = None if listed is None else {str(name) for name in listed}
        self.hints: dict[str, tuple[set[str], list[str]]] = {
            str(source): ({str(n) for n in one.get("names") or ()},
                          [str(f) for f in one.get("folders") or ()])
            for source, one in (data.get("hints") or {}).items()
        }  # fmt: skip

    def speaks_for(self, source: str, name: str, _stage: str = "") -> bool:
        if self.sources is not None and source not in self.sources:
            return False
        hinted = self.hints.get(source)
        return hinted is None or name in hinted[0]

    def speaks_for_problem(self, problem: dict[str, Any]) -> bool:
        """A problem the run would report again if it still stood: one of its sources'
        (for a hinted run, in the folders it read again)."""
        source = str(problem.get("source") or "")
        if self.sources is not None and source not in self.sources:
            return False
        hinted = self.hints.get(source)
        if hinted is None:
            return True
        folder = str(problem.get("folder") or "")
        return any(folder == top or folder.startswith(f"{top}/") for top in hinted[1])
